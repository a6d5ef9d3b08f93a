"""Inbox notices for each party, written with the state change, delivered by jobs after commit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    bindparam,
    cast,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from portal.domain.labels import STATE_LABELS
from portal.domain.policy import N_
from portal.domain.states import State
from portal.extensions import db
from portal.infra.queue import enqueue_with_retry
from portal.models import CaseLike, Notice
from portal.services import context
from portal.services.after_commit import call_after_commit
from portal.services.messaging.outlets import has_external_channels

log = logging.getLogger(__name__)

_NOTICES = Notice.__table__
BUYER, MERCHANT, STAFF = "buyer", "merchant", "staff"
#: which parties hear about a case entering each state
AUDIENCES: dict[str, tuple[str, ...]] = {
    State.SUBMITTED: (MERCHANT,),
    State.NEEDS_INFO: (BUYER,),
    State.UNDER_REVIEW: (BUYER,),
    State.NEGOTIATING: (BUYER, MERCHANT),
    State.APPROVED: (BUYER, MERCHANT),
    State.REJECTED: (BUYER, MERCHANT),
    State.APPEALED: (MERCHANT, STAFF),
    State.REFUNDING: (BUYER,),
    State.REFUNDED: (BUYER, MERCHANT),
    State.PAYOUT_FAILED: (BUYER, STAFF),
    State.WITHDRAWN: (MERCHANT,),
    State.CLOSED: (BUYER, MERCHANT),
}


def add(case: CaseLike | None, audience: str, kind: str, message: str, **params: Any) -> int:
    """Write one notice (in the caller's transaction) and deliver it after commit; its id."""
    return _insert([_row(case, audience, kind, message, params)])[0]


def add_each(rows: Select[Any], audience: str, kind: str, message: str) -> list[int]:
    """The same notice about each row of ``rows`` (columns labelled ``case_id``, ``order_id``,
    ``merchant_id``, ``case_no``) in one INSERT ... SELECT, one row or a sweep's page alike;
    each delivered after commit. Their ids; inside ``together`` none: kept, and written with
    the block's others when it ends."""
    chosen = _each(rows, audience, kind, message)
    kept = db.session().info.get(_TOGETHER)
    if kept is not None:
        kept.append(chosen)
        return []
    stmt = insert(_NOTICES).from_select(_EACH_COLUMNS, chosen)
    ids = list(db.session.scalars(stmt.returning(_NOTICES.c.id)))
    _deliver_after_commit(ids)
    return ids


#: the columns ``add_each`` writes, in its select's order
_EACH_COLUMNS = [
    "audience",
    "order_id",
    "merchant_id",
    "case_id",
    "kind",
    "message",
    "params",
    "created_at",
    "attempts",
    "last_error",
]
_TOGETHER = "portal.notices.together"  # on the session's ``info``: the selects kept


def _each(rows: Select[Any], audience: str, kind: str, message: str) -> Select[Any]:
    """The notices ``add_each`` writes, as a select of ``_EACH_COLUMNS``."""
    cols = rows.subquery()
    t = _NOTICES.c
    values = (
        literal(audience, t.audience.type),
        cols.c.order_id if audience == BUYER else cast(null(), t.order_id.type),
        cols.c.merchant_id if audience == MERCHANT else cast(null(), t.merchant_id.type),
        cols.c.case_id,
        literal(kind, t.kind.type),
        literal(message, t.message.type),
        _json_object("case_no", cols.c.case_no),
        literal(context.now(), t.created_at.type),
        literal(0, t.attempts.type),
        literal("", t.last_error.type),
    )
    return select(*(value.label(name) for value, name in zip(values, _EACH_COLUMNS, strict=True)))


@contextmanager
def together() -> Iterator[None]:
    """Inside the block, the notices ``add_each`` adds are kept and written when it ends, in
    one INSERT ... SELECT for all of them (a sweep's page: the reminder's and the
    escalation's), read back (``RETURNING``) only if a channel outside the inbox delivers
    them. On an error nothing kept is written (the caller rolls back)."""
    info = db.session().info
    if _TOGETHER in info:  # inside another such block: that one writes
        yield
        return
    info[_TOGETHER] = []
    try:
        yield
        kept: list[Select[Any]] = info[_TOGETHER]
        if kept:
            chosen = kept[0] if len(kept) == 1 else select(union_all(*kept).subquery())
            stmt = insert(_NOTICES).from_select(_EACH_COLUMNS, chosen)
            if has_external_channels():
                _deliver_after_commit(list(db.session.scalars(stmt.returning(_NOTICES.c.id))))
            else:  # the inbox is the only delivery: no ids to hand a job
                db.session.execute(stmt)
    finally:
        info.pop(_TOGETHER, None)


def _json_object(key: str, value: ColumnElement[Any]) -> ColumnElement[Any]:
    """``{key: value}`` built by the database."""
    name = "json_build_object" if db.engine.dialect.name == "postgresql" else "json_object"
    return getattr(func, name)(key, value, type_=_NOTICES.c.params.type)


def on_transition(case: CaseLike, to: State) -> None:
    """Tell the parties concerned that a case changed state (one statement for all of them)."""
    audiences = AUDIENCES.get(to, ())
    if audiences:
        message = STATE_LABELS[to]
        _insert([_row(case, a, "state", message, {"state": str(to)}) for a in audiences])


def _row(
    case: CaseLike | None, audience: str, kind: str, message: str, params: dict[str, Any]
) -> dict[str, Any]:
    order_id = case.order_id if case is not None else params.pop("order_id", None)
    merchant_id = case.merchant_id if case is not None else params.pop("merchant_id", None)
    return {
        "audience": audience,
        "order_id": order_id if audience == BUYER else None,
        "merchant_id": merchant_id if audience == MERCHANT else None,
        "case_id": case.id if case is not None else None,
        "kind": kind,
        "message": message,
        "params": {"case_no": case.case_no if case is not None else "", **params},
        "created_at": context.now(),
    }


def _insert(rows: list[dict[str, Any]]) -> list[int]:
    """Write the rows (one statement, several rows alike); their ids, in the rows' order."""
    stmt = insert(_NOTICES).returning(_NOTICES.c.id, sort_by_parameter_order=True)
    ids = list(db.session.execute(stmt, rows).scalars())
    _deliver_after_commit(ids)
    return ids


_PENDING = "portal.notices.pending"


def _deliver_after_commit(notice_ids: list[int]) -> None:
    """Batch this transaction's notices into one delivery job, enqueued after commit.

    Nothing is enqueued when no channel outside the portal is configured (no SMTP server,
    no notifier plugin): the inbox is then the only delivery, and it needs no job.
    """
    session = db.session()
    pending = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = []

        def enqueue() -> None:
            ids = session.info.pop(_PENDING, [])
            if ids:
                _enqueue_delivery(ids)

        call_after_commit(session, enqueue)
    pending.extend(notice_ids)


@sa_event.listens_for(Session, "after_rollback")
def _forget_pending(session: Session) -> None:
    """A rolled-back transaction's notices were never written: nothing to deliver."""
    session.info.pop(_PENDING, None)


def _enqueue_delivery(notice_ids: list[int]) -> None:
    if not has_external_channels():
        return
    try:
        enqueue_with_retry("jobs.notify.deliver_many", notice_ids)
    except Exception:
        log.exception("could not enqueue delivery of notices %s", notice_ids)


def _visible(order_ids: list[int], merchant_id: int | None, staff: bool) -> list[ColumnElement]:
    """One condition per kind of notice the viewer may read."""
    conds: list[ColumnElement] = []
    if order_ids:
        conds.append((Notice.audience == BUYER) & Notice.order_id.in_(order_ids))
    if merchant_id is not None:
        conds.append((Notice.audience == MERCHANT) & (Notice.merchant_id == merchant_id))
    if staff:
        conds.append(Notice.audience == STAFF)
    return conds


def for_viewer(
    order_ids: list[int], merchant_id: int | None, staff: bool, limit: int = 50
) -> list[Notice]:
    """The notices a viewer may read, newest first."""
    conds = _visible(order_ids, merchant_id, staff)
    if not conds:
        return []
    return list(
        db.session.scalars(
            select(Notice).where(or_(*conds)).order_by(Notice.id.desc()).limit(limit)
        )
    )


#: the header counts unread notices up to this many and then says "99+": staff may have
#: tens of thousands unread after a large escalation, and counting them all on every page
#: would read them all
UNREAD_SHOWN_MAX = 99


def unread_count(order_ids: list[int], merchant_id: int | None, staff: bool) -> int:
    """How many of the viewer's notices are unread (for the header), counted up to
    ``UNREAD_SHOWN_MAX + 1`` (more is shown as "99+")."""
    counting = unread_counting(order_ids, merchant_id, staff)
    if counting is None:
        return 0
    # a count is never NULL; typed as optional
    return int(db.session.scalar(counting.query, counting.params) or 0)


@dataclass(frozen=True)
class Counting:
    """The statement that counts a kind of viewer's unread notices (built once per kind: a
    buyer, a shop, staff, or several at once) and this viewer's values for it."""

    query: Select[int]
    params: dict[str, Any]


_COUNTING: dict[tuple[bool, bool, bool], Select[int]] = {}


def unread_counting(order_ids: list[int], merchant_id: int | None, staff: bool) -> Counting | None:
    """How to count the viewer's unread notices (None: the viewer has none to read); a page
    may run the query as a subquery of its own first statement, with the params."""
    kind = (bool(order_ids), merchant_id is not None, staff)
    if not any(kind):
        return None
    query = _COUNTING.get(kind)
    if query is None:
        conds: list[ColumnElement[bool]] = []
        if order_ids:
            orders = bindparam("unread_order_ids", expanding=True, type_=Integer)
            conds.append((Notice.audience == BUYER) & Notice.order_id.in_(orders))
        if merchant_id is not None:
            shop = bindparam("unread_merchant_id", type_=Integer)
            conds.append((Notice.audience == MERCHANT) & (Notice.merchant_id == shop))
        if staff:
            conds.append(Notice.audience == STAFF)
        unread = (
            select(Notice.id)
            .where(or_(*conds), Notice.read_at.is_(None))
            .limit(UNREAD_SHOWN_MAX + 1)
            .subquery()
        )
        query = _COUNTING[kind] = select(func.count()).select_from(unread)
    params: dict[str, Any] = {}
    if order_ids:
        params["unread_order_ids"] = list(order_ids)
    if merchant_id is not None:
        params["unread_merchant_id"] = merchant_id
    return Counting(query, params)


def mark_all_read(
    order_ids: list[int], merchant_id: int | None, staff: bool, up_to_id: int
) -> None:
    """Mark read every notice the viewer may read, up to notice ``up_to_id`` (the newest
    the viewer was shown: one that arrived since stays unread), the ones beyond the inbox's
    first page included."""
    conds = _visible(order_ids, merchant_id, staff)
    if conds:
        db.session.execute(
            update(Notice)
            .where(or_(*conds), Notice.id <= up_to_id, Notice.read_at.is_(None))
            .values(read_at=context.now())
        )
        db.session.commit()


POSSIBLE_DOUBLE_PAYMENT = N_(
    "Possible double payment: the gateway reports a refund paid that is recorded as failed "
    "or returned: %(case_no)s"
)
PAYOUT_ABNORMAL_BUYER = N_(
    "The refund for case %(case_no)s could not be paid into your account (for example a "
    "closed or frozen card). The money is held by the payment channel, not lost: support "
    "will send it to another account of yours and may contact you for a debit card. You "
    "need not apply again."
)
PAYOUT_ABNORMAL_STAFF = N_(
    "A refund is held by the payment channel (the buyer's account cannot receive it): "
    "redirect it or record another route on the payouts page: %(case_no)s"
)
REVIEW_REMINDER = N_("Review due in 1 working day: %(case_no)s")
# Summaries ("N cases ...") that earlier sweeps wrote in place of one notice per case: no longer
# written, kept in the catalogue so that the notices already stored still read in Chinese.
REVIEW_REMINDER_MANY = N_("%(n)s cases reach their review deadline within 1 working day.")
ESCALATED_MANY = N_("%(n)s cases passed their review deadline and were escalated to a supervisor.")
PAYOUT_LATE_MANY = N_("%(n)s refunds have not arrived by their expected date.")
ESCALATED_STAFF = N_("Review overdue, escalated to a supervisor: %(case_no)s")
ESCALATED_BUYER = N_(
    "Your case %(case_no)s is taking longer than 3 working days; a supervisor is on it. "
    "You can open a support ticket."
)
PAYOUT_LATE_BUYER = N_(
    "The refund for case %(case_no)s has not arrived by its expected date; "
    "you can open a support ticket."
)
PAYOUT_LATE_STAFF = N_("Refund not arrived by its expected date: %(case_no)s")
BUYER_WROTE = N_("The buyer of case %(case_no)s wrote to you.")
MERCHANT_SILENT = N_("No answer from the merchant in time: case %(case_no)s is refunded.")
INFO_TIMEOUT = N_(
    "Case %(case_no)s was closed: the material asked for did not arrive in time. "
    "You can apply again."
)
