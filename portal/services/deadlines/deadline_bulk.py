"""Set-based deadline actions for the sweep: reminders, escalations and late payouts for any
number of rows in a few SQL statements (no row-by-row loop in Python).

The once-only marker columns (``reminded_at``, ``escalated_at``, ``late_flagged_at``) are set
with one UPDATE per table; the events (one per case, for the audit trail) and the buyers'
notices are then written with INSERT ... SELECT over the rows that UPDATE marked; the staff
get one summary notice per sweep ("N cases ...") rather than one per case. Rules that change
a case's state (merchant silence, info timeout) go through ``deadline_rules.fire`` per case
instead, under compare-and-set.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, case, func, insert, literal, select, update

from portal.domain import payout_states
from portal.extensions import db
from portal.models import Event, Notice, Payout, RefundCase
from portal.services.deadlines.deadline_rules import REVIEW_STATES
from portal.services.dml import rows_matched
from portal.services.messaging import notices

BULK_RULES = ("review_reminder", "review_escalation", "payout_late")


def _json(key: str, value: ColumnElement) -> ColumnElement:
    name = "json_build_object" if db.engine.dialect.name == "postgresql" else "json_object"
    return getattr(func, name)(key, value)


def _events(rows: Select, kind: str, now: datetime, payout: bool = False) -> None:
    cols = rows.subquery()
    db.session.execute(
        insert(Event).from_select(
            [
                "case_id",
                "order_id",
                "payout_id",
                "kind",
                "actor_role",
                "actor_label",
                "from_state",
                "to_state",
                "reason",
                "data",
                "created_at",
            ],
            select(
                cols.c.case_id,
                cols.c.order_id,
                cols.c.payout_id if payout else literal(None),
                literal(kind),
                literal("system"),
                literal("system"),
                literal(""),
                literal(""),
                literal(""),
                _json("bulk", literal(True)),
                literal(now),
            ),
        )
    )


def _notices(rows: Select, audience: str, kind: str, message: str, now: datetime) -> None:
    cols = rows.subquery()
    db.session.execute(
        insert(Notice).from_select(
            [
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
            ],
            select(
                literal(audience),
                cols.c.order_id if audience == notices.BUYER else literal(None),
                literal(None),
                cols.c.case_id,
                literal(kind),
                literal(message),
                _json("case_no", cols.c.case_no),
                literal(now),
                literal(0),
                literal(""),
            ),
        )
    )


def _count(rows: Select) -> int:
    # a count is never NULL; scalar() is typed as optional
    return int(db.session.scalar(select(func.count()).select_from(rows.subquery())) or 0)


def _staff_summary(kind: str, message: str, count: int, now: datetime) -> None:
    """One notice for the staff per sweep, not one per case: "N cases ..."."""
    db.session.add(
        Notice(
            audience=notices.STAFF, kind=kind, message=message, params={"n": count}, created_at=now
        )
    )


def _marker_taken(at: datetime) -> bool:
    cases = (RefundCase.reminded_at == at) | (RefundCase.escalated_at == at)
    return (
        db.session.scalar(select(RefundCase.id).where(cases).limit(1)) is not None
        or db.session.scalar(select(Payout.id).where(Payout.late_flagged_at == at).limit(1))
        is not None
    )


def _fresh_marker(now: datetime) -> datetime:
    """``now``, nudged forward until no row carries it yet: each sweep's marks are its own."""
    while _marker_taken(now):
        now += timedelta(microseconds=1)
    return now


def run(now: datetime) -> dict[str, int]:
    """Apply the bulk rules due at ``now``; returns how many rows each one marked."""
    now = _fresh_marker(now)
    review = RefundCase.state.in_([str(s) for s in REVIEW_STATES])
    remind_due = (RefundCase.remind_at <= now) & RefundCase.reminded_at.is_(None)
    escalate_due = (
        (RefundCase.deadline_kind == "review")
        & (RefundCase.deadline_at <= now)
        & RefundCase.escalated_at.is_(None)
    )
    counts = {}
    try:
        # one pass over the rows: both markers in a single UPDATE (each row is rewritten once)
        db.session.execute(
            update(RefundCase)
            .where(review, remind_due | escalate_due)
            .values(
                reminded_at=case((remind_due, now), else_=RefundCase.reminded_at),
                escalated_at=case((escalate_due, now), else_=RefundCase.escalated_at),
            )
            .execution_options(synchronize_session=False)
        )
        reminded = select(
            RefundCase.id.label("case_id"), RefundCase.order_id, RefundCase.case_no
        ).where(RefundCase.reminded_at == now)
        escalated = select(
            RefundCase.id.label("case_id"), RefundCase.order_id, RefundCase.case_no
        ).where(RefundCase.escalated_at == now)
        counts["review_reminder"] = _count(reminded)
        counts["review_escalation"] = _count(escalated)
        if counts["review_reminder"]:
            _events(reminded, "review_reminder", now)
            _staff_summary(
                "review_reminder", notices.REVIEW_REMINDER_MANY, counts["review_reminder"], now
            )
        if counts["review_escalation"]:
            _events(escalated, "escalated", now)
            _staff_summary("escalated", notices.ESCALATED_MANY, counts["review_escalation"], now)
            _notices(escalated, notices.BUYER, "escalated", notices.ESCALATED_BUYER, now)

        executed = db.session.execute(
            update(Payout)
            .where(
                Payout.state.in_(payout_states.IN_FLIGHT),
                Payout.expected_arrival_at <= now,
                Payout.late_flagged_at.is_(None),
            )
            .values(late_flagged_at=now)
            .execution_options(synchronize_session=False)
        )
        marked = rows_matched(executed)
        counts["payout_late"] = marked
        if marked:
            rows = (
                select(
                    Payout.case_id.label("case_id"),
                    Payout.order_id,
                    Payout.id.label("payout_id"),
                    RefundCase.case_no,
                )
                .join(RefundCase, RefundCase.id == Payout.case_id)
                .where(Payout.late_flagged_at == now)
            )
            _events(rows, "payout_late", now, payout=True)
            _notices(rows, notices.BUYER, "payout_late", notices.PAYOUT_LATE_BUYER, now)
            _staff_summary("payout_late", notices.PAYOUT_LATE_MANY, marked, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return counts
