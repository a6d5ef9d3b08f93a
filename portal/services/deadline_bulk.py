"""Set-based deadline actions for the sweep: reminders, escalations and late payouts for any
number of rows in a few SQL statements (no row-by-row loop in Python).

The once-only marker column (``reminded_at``, ``escalated_at``, ``late_flagged_at``) is set
with one UPDATE; the events and inbox notices are then written with INSERT ... SELECT over
the rows that UPDATE marked. Rules that change a case's state (merchant silence, info
timeout) go through ``deadline_rules.fire`` per case instead, under compare-and-set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, insert, literal, select, update

from portal.extensions import db
from portal.models import Event, Notice, Payout, RefundCase
from portal.services import notices
from portal.services.deadline_rules import REVIEW_STATES

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


def run(now: datetime) -> dict[str, int]:
    """Apply the bulk rules due at ``now``; returns how many rows each one marked."""
    review = RefundCase.state.in_([str(s) for s in REVIEW_STATES])
    counts = {}
    try:
        marked = db.session.execute(
            update(RefundCase)
            .where(review, RefundCase.remind_at <= now, RefundCase.reminded_at.is_(None))
            .values(reminded_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        counts["review_reminder"] = marked
        if marked:
            rows = select(
                RefundCase.id.label("case_id"), RefundCase.order_id, RefundCase.case_no
            ).where(RefundCase.reminded_at == now)
            _events(rows, "review_reminder", now)
            _notices(rows, notices.STAFF, "review_reminder", notices.REVIEW_REMINDER, now)

        marked = db.session.execute(
            update(RefundCase)
            .where(
                review,
                RefundCase.deadline_kind == "review",
                RefundCase.deadline_at <= now,
                RefundCase.escalated_at.is_(None),
            )
            .values(escalated_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        counts["review_escalation"] = marked
        if marked:
            rows = select(
                RefundCase.id.label("case_id"), RefundCase.order_id, RefundCase.case_no
            ).where(RefundCase.escalated_at == now)
            _events(rows, "escalated", now)
            _notices(rows, notices.STAFF, "escalated", notices.ESCALATED_STAFF, now)
            _notices(rows, notices.BUYER, "escalated", notices.ESCALATED_BUYER, now)

        marked = db.session.execute(
            update(Payout)
            .where(
                Payout.state.in_(("created", "pending", "unknown")),
                Payout.expected_arrival_at <= now,
                Payout.late_flagged_at.is_(None),
            )
            .values(late_flagged_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
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
            _notices(rows, notices.STAFF, "payout_late", notices.PAYOUT_LATE_STAFF, now)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return counts
