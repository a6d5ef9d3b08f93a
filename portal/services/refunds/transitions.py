"""The one way a refund case, and the payouts, freezes, offers and tickets that hang on it,
change state: check the table, update only a row still in the state read, write an event."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, insert, literal, or_, select, union_all, update
from sqlalchemy.orm import util as orm_util

from portal.domain import (
    assignment,
    deadlines,
    freeze_states,
    offer_states,
    payout_states,
    reconciliation,
    states,
    ticket_states,
)
from portal.domain.freeze_states import FreezeState
from portal.domain.notes import Note
from portal.domain.offer_states import OfferState
from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import DifferenceState
from portal.domain.states import State
from portal.domain.ticket_states import TicketState
from portal.extensions import db
from portal.infra.queue import enqueue
from portal.models import (
    CaseLike,
    Event,
    Freeze,
    Offer,
    Payout,
    ReconDifference,
    RefundCase,
    Ticket,
)
from portal.plugins.words import Words
from portal.services import bulk_rows, context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.audit import chain
from portal.services.column_arrays import unnested
from portal.services.dml import inserted_id, rows_matched
from portal.services.errors import ConcurrentChange, Conflict, Forbidden
from portal.services.integration import webhooks
from portal.services.messaging import notices
from portal.services.policy_text import N_

log = logging.getLogger(__name__)
# The guarded updates and the audit trail's inserts are Core statements on the tables: they
# neither read nor refresh objects the session holds (loaded rows are expired instead).
EVENTS = Event.__table__
CASES = RefundCase.__table__
#: the hash chain's columns (portal.services.audit.chain), not part of an EventRecord
_CHAIN_COLUMNS = ("chain", "chain_seq", "prev_hash", "hash")


@dataclass(frozen=True)
class EventRecord:
    """An event as written to the audit trail (the row itself is never changed)."""

    id: int
    kind: str
    case_id: int | None
    order_id: int | None
    payout_id: int | None
    actor_role: str
    from_state: str
    to_state: str
    reason: str
    data: dict[str, Any]
    created_at: datetime


def record(
    kind: str,
    actor: Actor,
    *,
    case: CaseLike | None = None,
    case_id: int | None = None,
    order_id: int | None = None,
    payout_id: int | None = None,
    reason: str = "",
    frm: str = "",
    to: str = "",
    data: dict[str, Any] | None = None,
    note: Note | Words | None = None,
) -> EventRecord:
    """Append an event to the audit trail (in the caller's transaction).

    ``reason`` is what a person wrote (shown as written); what the system says goes in
    ``note``, a code with parameters (or a plugin's Words), worded when it is read.
    One INSERT, at once: cases, orders and payouts it refers to must already be flushed.
    """
    data = with_note(data, note)
    values: dict[str, Any] = {
        "kind": kind,
        "case_id": case.id if case else case_id,
        "order_id": order_id if order_id is not None else (case.order_id if case else None),
        "payout_id": payout_id,
        "actor_role": str(actor.role),
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "from_state": str(frm),
        "to_state": str(to),
        "reason": reason,
        "data": data or {},
        "created_at": context.now(),
    }
    _write_kept()  # events kept by ``events_together`` go first, in the order recorded
    [values] = chain.link([values])
    new_id = inserted_id(db.session.execute(insert(EVENTS).values(**values)))
    event = EventRecord(
        id=new_id,
        **{k: values[k] for k in _RECORD_KEYS},
    )
    if webhooks.is_webhook_event(kind):
        webhooks.note_event(db.session(), event)
    return event


def with_note(data: dict[str, Any] | None, note: Note | Words | None) -> dict[str, Any]:
    """An event's data with the system's note (as stored: ``data["note"]``) added."""
    if note is None:
        return data or {}
    return {**(data or {}), "note": note.to_json()}


#: the columns an EventRecord holds
_RECORD_FIELDS = [c for c in EVENTS.c if c.name not in ("actor_id", "actor_label", *_CHAIN_COLUMNS)]
_RECORD_KEYS = [c.name for c in _RECORD_FIELDS if c.name != "id"]
#: the columns an appended event's row gives (all but the id)
_INSERTED = [c for c in EVENTS.c if c.name != "id"]


def record_each(
    kind: str,
    actor: Actor,
    rows: Select[Any],
    *,
    data: dict[str, Any] | None = None,
    note: Note | None = None,
) -> int:
    """Append the same event for each row of ``rows`` (columns labelled ``case_id``,
    ``order_id``, ``payout_id``), in the caller's transaction: one row or a sweep's page alike,
    in a bounded number of statements (read the rows, link them into their chains, one
    multi-row INSERT). Returns how many (inside ``events_together`` 0: the rows are read when
    the block ends); events a shop hears about go to the webhook outbox, as ``record``'s do."""
    # only the columns an event takes: the database leaves out what else ``rows`` computes
    # (a sweep's rows carry the shop, looked up per row, for the notices that need it)
    wanted = _event_columns(rows)
    same = with_note(data, note)
    kept = db.session().info.get(_TOGETHER)
    if kept is not None and not webhooks.is_webhook_event(kind):
        # read when the block ends, with the other rules' rows: one read for a page
        kept.append(_Pending(wanted, _common(actor), kind, same))
        return 0
    read = wanted.order_by(wanted.selected_columns.payout_id, wanted.selected_columns.case_id)
    found = db.session.execute(read).mappings().all()
    return record_many(kind, actor, [{**row, "data": same} for row in found])


def _event_columns(rows: Select[Any]) -> Select[Any]:
    """The columns of ``rows`` an event takes."""
    given = rows.subquery()
    return select(given.c.case_id, given.c.order_id, given.c.payout_id)


@dataclass(frozen=True)
class _Pending:
    """``record_each``'s events inside ``events_together``: their rows not read yet."""

    rows: Select[Any]  # the columns ``_event_columns`` gives
    common: dict[str, Any]
    kind: str
    data: dict[str, Any]


def record_many(
    kind: str, actor: Actor, events: Sequence[Mapping[str, Any]], *, to: str = ""
) -> int:
    """Append an event of ``kind`` for each of ``events`` (each its ``case_id``,
    ``order_id``, ``payout_id`` and ``data``; one left out is None, or no data), in the
    caller's transaction and a bounded number of statements (link them into their chains,
    one multi-row INSERT), as ``record_each`` does. Returns how many."""
    return record_batch(actor, [{**event, "kind": kind} for event in events], to=to)


def record_batch(
    actor: Actor, events: Sequence[Mapping[str, Any]], *, to: str = "", new_owners: bool = False
) -> int:
    """Append ``events`` (each its ``kind`` and, as ``record_many``'s, its ids and data), in
    the order given, in the caller's transaction: one ``chain.link`` call for all of them
    (an order's events keep their order in its chain) and one write. Inside
    ``events_together`` they are kept for the block's end unless a shop hears about one.
    Events a shop hears about go to the webhook outbox, as ``record``'s do. Returns how
    many. ``new_owners``: every event's case or order was inserted by this transaction
    (``chain.link``: nothing to lock, no head to read); the events are written now."""
    common = _common(actor, to)
    rows = [
        {
            **common,
            "kind": event["kind"],
            "case_id": event.get("case_id"),
            "order_id": event.get("order_id"),
            "payout_id": event.get("payout_id"),
            "data": event.get("data") or {},
        }
        for event in events
    ]
    if not rows:
        return 0
    kept = db.session().info.get(_TOGETHER)
    if kept is not None and not new_owners and not _any_webhook(rows):
        kept.extend(rows)
        return len(rows)
    _write_kept()
    return _insert(chain.link(rows, new_owners=new_owners))


def _any_webhook(rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether a shop hears about any of these events (each kind asked once)."""
    return any(map(webhooks.is_webhook_event, {row["kind"] for row in rows}))


def _common(actor: Actor, to: str = "") -> dict[str, Any]:
    """The columns every event ``record_batch`` appends now by ``actor`` shares."""
    return {
        "actor_role": str(actor.role),
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "from_state": "",
        "to_state": str(to),
        "reason": "",
        "created_at": context.now(),
    }


#: from this many events up, on PostgreSQL, events nobody needs back are written by COPY
COPY_FROM = 50


def _insert(values: list[dict[str, Any]]) -> int:
    """Insert linked events (one statement, or one COPY for many on PostgreSQL); how many.
    Those a shop hears about are read back for the webhook outbox."""
    webhook = _any_webhook(values)
    postgresql = db.engine.dialect.name == "postgresql"
    if not webhook and (not postgresql or len(values) >= COPY_FROM):
        bulk_rows.insert_rows(EVENTS, values)  # a sweep's page, a batch: nothing to read back
        return len(values)
    if postgresql:  # one short statement, a column per array
        stmt = insert(EVENTS).from_select([c.name for c in _INSERTED], unnested(_INSERTED, values))
        params: list[dict[str, Any]] | None = None
    else:
        stmt, params = insert(EVENTS), values
    if not webhook:
        db.session.execute(stmt, params)
        return len(values)
    returning = stmt.returning(*_RECORD_FIELDS, sort_by_parameter_order=params is not None)
    written = sorted(db.session.execute(returning, params).all(), key=lambda row: row.id)
    for row in written:
        if webhooks.is_webhook_event(row.kind):
            webhooks.note_event(db.session(), EventRecord(**row._asdict()))
    return len(written)


_TOGETHER = "portal.events_together"  # on the session's ``info``: the events kept
_LOCKED = "portal.events_together.owners_locked"  # beside it: the caller holds the owners


@contextmanager
def events_together(owners_locked: bool = False) -> Iterator[None]:
    """Inside the block, the events ``record_each`` and ``record_many`` append are kept, then
    linked into their chains at once and written when the block ends: a sweep's page whose
    reminder and escalation both write an event per case moves each chain's head once, not
    once per rule, and the rows ``record_each`` writes events about are read in one
    statement for all of its calls in the block. Events a shop hears about (webhooks) and
    single events are not kept: those kept so far are written first, so a chain's order is
    the order recorded. On an error
    nothing kept is written (the caller rolls back). ``owners_locked``: the caller's
    transaction already locked the cases the kept events are about (``chain.link``)."""
    info = db.session().info
    if _TOGETHER in info:  # inside another such block: that one writes
        yield
        return
    info[_TOGETHER], info[_LOCKED] = [], owners_locked
    try:
        yield
        _write_kept()
    finally:
        info.pop(_TOGETHER, None)
        info.pop(_LOCKED, None)


def _write_kept() -> None:
    """Link and write the events kept by ``events_together`` so far (keeping on): by COPY on
    PostgreSQL from ``COPY_FROM`` events up (none of them is a webhook's), else one INSERT."""
    info = db.session().info
    kept = info.get(_TOGETHER)
    if not kept:
        return
    rows = _read_pending(list(kept))
    kept.clear()
    if not rows:
        return
    _insert(chain.link(rows, owners_locked=bool(info.get(_LOCKED))))


def _read_pending(kept: list[dict[str, Any] | _Pending]) -> list[dict[str, Any]]:
    """The kept events, those of ``record_each`` with their rows read: all of them in one
    statement (each its part's rows in ``record_each``'s order), in the order recorded."""
    pending = [item for item in kept if isinstance(item, _Pending)]
    if not pending:
        return kept  # type: ignore[return-value]  # only rows
    parts = [
        select(literal(i).label("part"), *item.rows.subquery().c) for i, item in enumerate(pending)
    ]
    both = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery()
    ids = (both.c.case_id, both.c.order_id, both.c.payout_id)
    read = select(both.c.part, *ids).order_by(both.c.part, both.c.payout_id, both.c.case_id)
    found: list[list[Any]] = [[] for _ in pending]
    for part, *row in db.session.execute(read).all():
        found[part].append(row)
    by_part = iter(found)
    rows: list[dict[str, Any]] = []
    for item in kept:
        if not isinstance(item, _Pending):
            rows.append(item)
            continue
        shared = {**item.common, "kind": item.kind, "data": item.data}
        rows.extend(
            {**shared, "case_id": case_id, "order_id": order_id, "payout_id": payout_id}
            for case_id, order_id, payout_id in next(by_part)
        )
    return rows


def check_allowed(case: CaseLike, to: State, actor: Actor) -> State:
    """The case's state as read, if the table lets ``actor`` move it to ``to``; else Conflict.

    ``transition`` checks this itself; a use case calls it first when its own rules (amounts,
    money left on the order) would otherwise answer a request the case has moved past.
    """
    frm = State(case.state)
    try:
        states.check(frm, to, actor.role)
    except states.TransitionError as exc:
        raise Conflict(
            N_("This action is not possible while the case is %(state)s."),
            rule="transition",
            state=str(frm),
        ) from exc
    return frm


def _assignee_guard(case: CaseLike, actor: Actor) -> list[Any]:
    """A reviewer acts only on a case nobody works or they work (a supervisor on any): refused
    at once when the case as read says so, and kept in the guarded update, so a claim that
    lands in between still stops the decision."""
    if actor.role != states.Role.REVIEWER or actor.supervisor or actor.user_id is None:
        return []
    assignee = getattr(case, "assignee_id", None)
    if not assignment.may_decide(assignee, actor.user_id, actor.supervisor):
        raise Forbidden(
            N_("Another reviewer works this case: only they or a supervisor can act on it."),
            rule="assigned_elsewhere",
        )
    return [or_(CASES.c.assignee_id.is_(None), CASES.c.assignee_id == actor.user_id)]


def transition(
    case: CaseLike,
    to: State,
    actor: Actor,
    reason: str = "",
    *,
    data: dict[str, Any] | None = None,
    note: Note | Words | None = None,
    **changes: Any,
) -> EventRecord:
    """Move ``case`` to ``to`` if it is still in the state we read; write the event
    (``reason``: a person's words; ``note``: the system's, see ``record``).

    Raises TransitionError for an edge the table forbids, ConcurrentChange when
    another transaction moved the case first. Does not commit.
    """
    frm = check_allowed(case, to, actor)
    guard = _assignee_guard(case, actor)
    now = context.now()
    rules = deadlines.Rules.from_config(context.setting)
    calendar = context.calendar()
    deadline_at, deadline_kind = deadlines.on_entry(
        to,
        now=now,
        calendar=calendar,
        current=(case.deadline_at, case.deadline_kind),
        rules=rules,
    )
    remind_at = deadlines.reminder_for((deadline_at, deadline_kind), calendar, rules)
    values: dict[str, Any] = {
        "state": str(to),
        "version": case.version + 1,
        "updated_at": now,
        "open_order_id": case.order_id if states.is_open(to) else None,
        "deadline_at": deadline_at,
        "deadline_kind": deadline_kind,
        "remind_at": remind_at,
        **changes,
    }
    if remind_at != case.remind_at:
        values["reminded_at"] = None
    if to not in deadlines.MERCHANT_ANSWER_STATES:
        values["merchant_deadline_at"] = None
    if deadline_kind != deadlines.REVIEW or deadline_at != case.deadline_at:
        values["escalated_at"] = None
    db.session.flush()  # changes already made to a loaded case go first
    result = db.session.execute(  # only if nobody moved the case since we read it
        update(CASES)
        .where(CASES.c.id == case.id, CASES.c.state == frm, CASES.c.version == case.version, *guard)
        .values(**values)
    )
    if rows_matched(result) != 1:
        raise ConcurrentChange(
            N_("Someone else changed this case a moment ago. Reload it to see what happened."),
            rule="concurrent",
        )
    case_id, order_id = case.id, case.order_id
    notices.on_transition(case, to)  # reads only what the update did not change
    _expire_loaded(RefundCase, case_id)  # a loaded case shows its new state on next access
    schedule_deadline_jobs(case_id, deadline_at, remind_at, None)
    return record(
        "transition",
        actor,
        case_id=case_id,
        order_id=order_id,
        frm=str(frm),
        to=str(to),
        reason=reason,
        data=data,
        note=note,
    )


def schedule_deadline_jobs(
    case_id: int,
    deadline_at: datetime | None,
    remind_at: datetime | None,
    merchant_deadline_at: datetime | None,
) -> None:
    """After commit, ask the scheduler to wake the deadline job at each instant (a reminder only:
    the sweep finds anything these jobs miss)."""

    def schedule() -> None:
        for when in {deadline_at, remind_at, merchant_deadline_at} - {None}:
            try:
                enqueue("jobs.deadlines.fire_for_case", case_id, at=when)
            except Exception:
                log.exception("could not schedule deadline job for case %s", case_id)

    if deadline_at or remind_at or merchant_deadline_at:
        call_after_commit(db.session(), schedule)


S = TypeVar("S", PayoutState, FreezeState, OfferState, TicketState, DifferenceState)
_Stateful = type[Payout] | type[Freeze] | type[Offer] | type[Ticket] | type[ReconDifference]


def _move(
    model: _Stateful,
    row_id: int,
    frm: S,
    to: S,
    check: Callable[[S, S], None],
    changes: dict[str, Any],
) -> bool:
    """Check the edge in its table (IllegalMove if absent: a caller's bug, not a race), then
    set the state only if the row is still in ``frm``. False, with nothing written, if not."""
    check(frm, to)
    db.session.flush()  # changes already made to a loaded row go first
    table = model.__table__
    changed = rows_matched(
        db.session.execute(
            update(table)
            .where(table.c.id == row_id, table.c.state == frm)
            .values(state=to, **changes)
        )
    )
    if changed == 1:
        _expire_loaded(model, row_id)
    return changed == 1


def _expire_loaded(model: type, row_id: int) -> None:
    """A row the session has loaded shows the database's values on next access."""
    loaded = db.session.identity_map.get(orm_util.identity_key(model, row_id))
    if loaded is not None:
        db.session.expire(loaded)


def move_payout(
    payout_id: int,
    frm: PayoutState,
    to: PayoutState,
    actor: Actor,
    *,
    case: CaseLike,
    kind: str = "",
    reason: str = "",
    data: dict[str, Any] | None = None,
    note: Note | Words | None = None,
    **changes: Any,
) -> bool:
    """Move a payout from ``frm`` to ``to`` (setting ``changes`` too) and write its event,
    ``payout_<to>`` unless ``kind`` names it; False, with nothing written, if the payout is
    no longer in ``frm``. Does not commit.

    A payout asked again and still in the same state (pending -> pending) is no change:
    the row keeps the latest answer, and no event is written (the timeline shows each real
    change once, however often the settlement job asks)."""
    if not _move(Payout, payout_id, frm, to, payout_states.check, changes):
        return False
    if frm == to and not kind:
        return True
    record(
        kind or f"payout_{to}",
        actor,
        case=case,
        payout_id=payout_id,
        frm=frm,
        to=to,
        reason=reason,
        data=data,
        note=note,
    )
    return True


def move_freeze(freeze: Freeze, to: FreezeState, actor: Actor, **changes: Any) -> bool:
    """Move a freeze from the state it was read in to ``to`` and write ``funds_<to>``; False,
    with nothing written, if it had moved already. Does not commit."""
    frm, freeze_id, case_id, amount = (
        FreezeState(freeze.state),
        freeze.id,
        freeze.case_id,
        freeze.amount_fen,
    )
    if not _move(Freeze, freeze_id, frm, to, freeze_states.check, changes):
        return False
    record(
        f"funds_{to}",
        actor,
        case=db.session.get(RefundCase, case_id),  # usually loaded already: no query
        frm=frm,
        to=to,
        data={"freeze_id": freeze_id, "amount_fen": amount},
    )
    return True


def move_offer(
    offer: Offer, to: OfferState, actor: Actor, case: CaseLike, reason: str = ""
) -> bool:
    """Move an offer from the state it was read in to ``to`` and write ``offer_<to>``; False,
    with nothing written, if it had moved already. Does not commit."""
    frm, offer_id, amount = OfferState(offer.state), offer.id, offer.amount_fen
    if not _move(Offer, offer_id, frm, to, offer_states.check, {}):
        return False
    record(
        f"offer_{to}",
        actor,
        case=case,
        frm=frm,
        to=to,
        reason=reason,
        data={"offer_id": offer_id, "amount_fen": amount},
    )
    return True


def move_ticket(ticket: Ticket, to: TicketState, actor: Actor, **changes: Any) -> bool:
    """Move a ticket from the state it was read in to ``to`` and write ``ticket_<to>``; False,
    with nothing written, if it had moved already. Does not commit."""
    frm, ticket_id, case_id, order_id = (
        TicketState(ticket.state),
        ticket.id,
        ticket.case_id,
        ticket.order_id,
    )
    if not _move(Ticket, ticket_id, frm, to, ticket_states.check, changes):
        return False
    record(
        f"ticket_{to}",
        actor,
        case_id=case_id,
        order_id=order_id,
        frm=frm,
        to=to,
        data={"ticket_id": ticket_id},
    )
    return True


def move_difference(
    difference_id: int,
    to: DifferenceState,
    actor: Actor,
    *,
    payout_id: int | None,
    reason: str = "",
    data: dict[str, Any] | None = None,
    **changes: Any,
) -> bool:
    """Move a reconciliation difference from open to ``to`` and write ``recon_<to>``; False,
    with nothing written, if it had moved already. Does not commit."""
    frm = DifferenceState.OPEN
    if not _move(ReconDifference, difference_id, frm, to, reconciliation.check, changes):
        return False
    record(
        f"recon_{to}",
        actor,
        payout_id=payout_id,
        frm=frm,
        to=to,
        reason=reason,
        data={"difference_id": difference_id, **(data or {})},
    )
    return True
