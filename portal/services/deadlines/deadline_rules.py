"""The rules that run themselves when a deadline passes, and the set-based sweep that finds them.

Each rule is a query that finds every case (or payout) due *now* in one statement, and
an action that re-checks the row under compare-and-set before acting, so a job that
fires for a case that has moved on does nothing and the same job run twice acts once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain import payout_states
from portal.domain.states import State
from portal.extensions import db
from portal.models import Payout, RefundCase
from portal.services import context
from portal.services.actors import SYSTEM
from portal.services.dml import rows_matched
from portal.services.errors import DomainError
from portal.services.messaging import notices
from portal.services.refunds import cases
from portal.services.refunds.transitions import record, transition

log = logging.getLogger(__name__)

REVIEW_STATES = (State.SUBMITTED, State.UNDER_REVIEW, State.APPEALED, State.NEGOTIATING)
CASE_RULES = ("review_reminder", "review_escalation", "merchant_silence", "info_timeout")
#: rules that change a case's state: applied one case at a time, by jobs
STATE_RULES = ("merchant_silence", "info_timeout")
RULES = (*CASE_RULES, "payout_late")


def due_query(rule: str, now: datetime) -> Select:
    """The ids due under ``rule`` at ``now``: one set-based statement per rule."""
    review = RefundCase.state.in_([str(s) for s in REVIEW_STATES])
    if rule == "review_reminder":
        return select(RefundCase.id).where(
            review, RefundCase.remind_at <= now, RefundCase.reminded_at.is_(None)
        )
    if rule == "review_escalation":
        return select(RefundCase.id).where(
            review,
            RefundCase.deadline_kind == "review",
            RefundCase.deadline_at <= now,
            RefundCase.escalated_at.is_(None),
        )
    if rule == "merchant_silence":
        return select(RefundCase.id).where(
            RefundCase.state.in_([str(State.SUBMITTED), str(State.UNDER_REVIEW)]),
            RefundCase.merchant_deadline_at <= now,
        )
    if rule == "info_timeout":
        return select(RefundCase.id).where(
            RefundCase.state == str(State.NEEDS_INFO), RefundCase.deadline_at <= now
        )
    if rule == "payout_late":
        return select(Payout.id).where(
            Payout.state.in_(payout_states.IN_FLIGHT),
            Payout.expected_arrival_at <= now,
            Payout.late_flagged_at.is_(None),
        )
    raise ValueError(f"unknown rule {rule!r}")


def due(
    now: datetime, batch: int = 5000, rules: tuple[str, ...] = RULES
) -> Iterator[tuple[str, int]]:
    """Every (rule, id) due now, streamed in batches (memory stays flat for any number)."""
    for rule in rules:
        result = db.session.execute(due_query(rule, now).execution_options(yield_per=batch))
        for (row_id,) in result:
            yield rule, row_id


def fire(rule: str, row_id: int) -> bool:
    """Apply ``rule`` to one case or payout if it is still due; True if it acted."""
    now = context.now()
    if db.session.scalar(due_query(rule, now).where(_id_column(rule) == row_id)) is None:
        db.session.rollback()
        return False  # moved on, not due yet, or already handled
    try:
        acted = ACTIONS[rule](row_id, now)
        db.session.commit()
        return acted
    except DomainError as exc:
        db.session.rollback()  # someone acted first (compare-and-set), or a rule refused
        log.info("deadline rule %s on %s did nothing: %s", rule, row_id, exc)
        return False
    except Exception:
        db.session.rollback()
        raise


def _id_column(rule: str) -> InstrumentedAttribute[int]:
    return Payout.id if rule == "payout_late" else RefundCase.id


def _claim(column: str, case_id: int, now: datetime) -> RefundCase | None:
    """Set a once-only marker column; None if another run set it first."""
    executed = db.session.execute(
        update(RefundCase)
        .where(RefundCase.id == case_id, getattr(RefundCase, column).is_(None))
        .values({column: now})
        .execution_options(synchronize_session=False)
    )
    changed = rows_matched(executed)
    return db.session.get(RefundCase, case_id) if changed == 1 else None


def _remind(case_id: int, now: datetime) -> bool:
    case = _claim("reminded_at", case_id, now)
    if case is None:
        return False
    record("review_reminder", SYSTEM, case=case)
    notices.add(case, notices.STAFF, "review_reminder", notices.REVIEW_REMINDER)
    return True


def _escalate(case_id: int, now: datetime) -> bool:
    case = _claim("escalated_at", case_id, now)
    if case is None:
        return False
    record("escalated", SYSTEM, case=case, reason="review target of working days passed")
    notices.add(case, notices.STAFF, "escalated", notices.ESCALATED_STAFF)
    notices.add(case, notices.BUYER, "escalated", notices.ESCALATED_BUYER)
    return True


def _merchant_silent(case_id: int, now: datetime) -> bool:
    case = db.session.get_one(RefundCase, case_id)
    record("merchant_silent", SYSTEM, case=case, reason="no answer from the merchant in its window")
    cases.approve_in_transaction(
        case, SYSTEM, case.amount_requested_fen, "merchant did not answer in time"
    )
    notices.add(case, notices.MERCHANT, "merchant_silent", notices.MERCHANT_SILENT)
    return True


def _info_timeout(case_id: int, now: datetime) -> bool:
    case = db.session.get_one(RefundCase, case_id)
    transition(case, State.CLOSED, SYSTEM, "the material asked for did not arrive in time")
    notices.add(case, notices.BUYER, "info_timeout", notices.INFO_TIMEOUT)
    return True


def _payout_late(payout_id: int, now: datetime) -> bool:
    executed = db.session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.late_flagged_at.is_(None))
        .values(late_flagged_at=now)
        .execution_options(synchronize_session=False)
    )
    changed = rows_matched(executed)
    if changed != 1:
        return False
    payout = db.session.get_one(Payout, payout_id)
    case = db.session.get(RefundCase, payout.case_id)
    record("payout_late", SYSTEM, case=case, payout_id=payout_id)
    notices.add(case, notices.BUYER, "payout_late", notices.PAYOUT_LATE_BUYER)
    notices.add(case, notices.STAFF, "payout_late", notices.PAYOUT_LATE_STAFF)
    return True


ACTIONS = {
    "review_reminder": _remind,
    "review_escalation": _escalate,
    "merchant_silence": _merchant_silent,
    "info_timeout": _info_timeout,
    "payout_late": _payout_late,
}
