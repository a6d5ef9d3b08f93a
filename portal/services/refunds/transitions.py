"""The one way a refund case changes state: check the table, compare-and-set, write an event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update

from portal.domain import deadlines, states
from portal.domain.states import State
from portal.extensions import db
from portal.infra.queue import enqueue
from portal.models import CaseLike, Event, RefundCase
from portal.services import context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.dml import inserted_id, rows_matched
from portal.services.errors import ConcurrentChange, DomainError
from portal.services.integration import webhooks
from portal.services.messaging import notices
from portal.services.policy_text import N_

log = logging.getLogger(__name__)

_EVENTS = Event.__table__
_CASES = RefundCase.__table__
# built once: constructing a statement and its cache key costs more than running it on SQLite
_INSERT_EVENT = insert(_EVENTS)
#: compare-and-set of a case; the SET clause comes from the parameters' column names
_CASE_CAS = update(_CASES).where(
    _CASES.c.id == bindparam("cas_id"),
    _CASES.c.state == bindparam("cas_state"),
    _CASES.c.version == bindparam("cas_version"),
)


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
) -> EventRecord:
    """Append an event to the audit trail (in the caller's transaction).

    One INSERT, at once: cases, orders and payouts it refers to must already be flushed.
    """
    values: dict[str, Any] = {
        "kind": kind,
        "case_id": case.id if case else case_id,
        "order_id": order_id if order_id is not None else (case.order_id if case else None),
        "payout_id": payout_id,
        "actor_role": str(actor.role),
        "actor_id": actor.user_id,
        "actor_label": actor.label,
        "from_state": frm,
        "to_state": to,
        "reason": reason,
        "data": data or {},
        "created_at": context.now(),
    }
    new_id = inserted_id(db.session.execute(_INSERT_EVENT, values))
    event = EventRecord(
        id=new_id,
        **{k: v for k, v in values.items() if k not in ("actor_id", "actor_label")},
    )
    if webhooks.is_webhook_event(kind):
        webhooks.note_event(db.session(), event)
    return event


def transition(
    case: CaseLike,
    to: State,
    actor: Actor,
    reason: str = "",
    *,
    data: dict[str, Any] | None = None,
    **changes: Any,
) -> EventRecord:
    """Move ``case`` to ``to`` if it is still in the state we read; write the event.

    Raises TransitionError for an edge the table forbids, ConcurrentChange when
    another transaction moved the case first. Does not commit.
    """
    frm = State(case.state)
    try:
        states.check(frm, to, actor.role)
    except states.TransitionError as exc:
        raise DomainError(
            N_("This action is not possible while the case is %(state)s."),
            rule="transition",
            state=str(frm),
        ) from exc
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
    db.session.flush()  # changes already made to a loaded case go first, as an ORM update would
    result = db.session.execute(
        _CASE_CAS,
        {"cas_id": case.id, "cas_state": str(frm), "cas_version": case.version, **values},
    )
    if rows_matched(result) != 1:
        raise ConcurrentChange(
            N_("Someone else changed this case a moment ago. Reload it to see what happened."),
            rule="concurrent",
        )
    case_id, order_id = case.id, case.order_id
    notices.on_transition(case, to)  # reads only what the update did not change
    if isinstance(case, RefundCase):
        db.session.expire(case)  # a loaded case shows its new state on next access
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
