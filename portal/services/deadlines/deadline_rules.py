"""The deadline rules, each defined once: which rows are due (a condition in SQL) and what
firing does (events written by ``transitions``, so webhooks go through the one outbox;
notices; state changes through ``transition``).

Both paths run these definitions through ``apply``: a job fires one rule for one case or
payout (``fire``), the sweep fires the rules for a batch of due rows (``deadline_bulk``). A
rule with a once-only marker column (reminded, escalated, flagged late) claims its rows with
an UPDATE that re-checks the condition, so a row fired twice, or by both paths at once,
acts once; marker rules on the same table (the reminder and the escalation) can be claimed
together, one UPDATE setting each row's due markers, each rule then acting on its own rows. A
rule that changes a case's state acts under compare-and-set, one case per transaction: a
case that moved on is left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    and_,
    case,
    cast,
    null,
    or_,
    select,
    update,
)
from sqlalchemy.orm import InstrumentedAttribute

from portal.domain import deadlines, payout_states, states
from portal.domain.notes import Note
from portal.domain.states import State
from portal.extensions import db
from portal.models import Order, Payout, RefundCase
from portal.services import column_arrays, context
from portal.services.actors import SYSTEM
from portal.services.errors import DomainError
from portal.services.messaging import notices
from portal.services.refunds import cases
from portal.services.refunds.transitions import events_together, record, record_each, transition
from portal.services.risk import assessment

_CASES, _PAYOUTS, _ORDERS = RefundCase.__table__, Payout.__table__, Order.__table__
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rule:
    """One deadline rule: its rows (cases or payouts), when one is due, and what firing does."""

    name: str
    table: type[RefundCase] | type[Payout]
    #: the condition a row meets while the rule is due for it at ``now``
    due: Callable[[datetime], ColumnElement[bool]]
    #: the effects for rows just found due (and claimed), in the caller's transaction
    act: Callable[[list[int]], None]
    #: the once-only column firing sets; ``None`` for a rule that changes a case's state
    marker: str | None = None


def _in_review() -> ColumnElement[bool]:
    return RefundCase.state.in_(states.REVIEW_QUEUE_STATES)


def _reminder_due(now: datetime) -> ColumnElement[bool]:
    return and_(_in_review(), RefundCase.remind_at <= now, RefundCase.reminded_at.is_(None))


def _escalation_due(now: datetime) -> ColumnElement[bool]:
    return and_(
        _in_review(),
        RefundCase.deadline_kind == deadlines.REVIEW,
        RefundCase.deadline_at <= now,
        RefundCase.escalated_at.is_(None),
    )


def _merchant_silence_due(now: datetime) -> ColumnElement[bool]:
    return and_(
        RefundCase.state.in_(deadlines.MERCHANT_ANSWER_STATES),
        RefundCase.merchant_deadline_at <= now,
    )


def _info_timeout_due(now: datetime) -> ColumnElement[bool]:
    return and_(RefundCase.state == State.NEEDS_INFO, RefundCase.deadline_at <= now)


def _payout_late_due(now: datetime) -> ColumnElement[bool]:
    return and_(
        Payout.state.in_(payout_states.IN_FLIGHT),
        Payout.expected_arrival_at <= now,
        Payout.late_flagged_at.is_(None),
    )


def _among(
    column: ColumnElement[int] | InstrumentedAttribute[int], ids: list[int]
) -> ColumnElement[bool]:
    """``column IN ids``; on PostgreSQL one array parameter (a page's ids are one value to
    send and to parse, not a thousand), with the ids' range beside it: from ``= ANY`` alone
    the planner takes a page of 1,000 for a few percent of the table and scans all of it, in
    each statement of each page; from the range it reads the page's span of the index."""
    found = column_arrays.among(column, ids, Integer())
    if ids and db.engine.dialect.name == "postgresql":
        return and_(column.between(min(ids), max(ids)), found)
    return found


def _cases(case_ids: list[int]) -> Select[Any]:
    """The columns events and notices about these cases read, a row per case."""
    # the shop as a subquery, not a join: read only by the statements that use it (notices
    # to the shop), the others (events, notices to staff and buyers) never touch ``orders``
    shop = select(_ORDERS.c.merchant_id).where(_ORDERS.c.id == _CASES.c.order_id)
    return (
        select(
            _CASES.c.id.label("case_id"),
            _CASES.c.order_id,
            cast(null(), Integer).label("payout_id"),
            _CASES.c.case_no,
            shop.scalar_subquery().label("merchant_id"),
        )
        .where(_among(_CASES.c.id, case_ids))
        .order_by(_CASES.c.id)
    )


def _payouts(payout_ids: list[int]) -> Select[Any]:
    """The same columns for the cases of these payouts, a row per payout."""
    return (
        select(
            _CASES.c.id.label("case_id"),
            _CASES.c.order_id,
            _PAYOUTS.c.id.label("payout_id"),
            _CASES.c.case_no,
            _ORDERS.c.merchant_id,
        )
        .join(_CASES, _CASES.c.id == _PAYOUTS.c.case_id)
        .join(_ORDERS, _ORDERS.c.id == _CASES.c.order_id)
        .where(_among(_PAYOUTS.c.id, payout_ids))
        .order_by(_PAYOUTS.c.id)
    )


def _remind(case_ids: list[int]) -> None:
    rows = _cases(case_ids)
    record_each("review_reminder", SYSTEM, rows)
    notices.add_each(rows, notices.STAFF, "review_reminder", notices.REVIEW_REMINDER)


def _escalate(case_ids: list[int]) -> None:
    rows = _cases(case_ids)
    record_each("escalated", SYSTEM, rows, note=Note("review_target_passed"))
    notices.add_each(rows, notices.STAFF, "escalated", notices.ESCALATED_STAFF)
    notices.add_each(rows, notices.BUYER, "escalated", notices.ESCALATED_BUYER)


def _payout_late(payout_ids: list[int]) -> None:
    rows = _payouts(payout_ids)
    record_each("payout_late", SYSTEM, rows)
    notices.add_each(rows, notices.BUYER, "payout_late", notices.PAYOUT_LATE_BUYER)
    notices.add_each(rows, notices.STAFF, "payout_late", notices.PAYOUT_LATE_STAFF)


def _merchant_silent(case_ids: list[int]) -> None:
    for case_id in case_ids:
        case = db.session.get_one(RefundCase, case_id)
        record("merchant_silent", SYSTEM, case=case, note=Note("merchant_silent"))
        if not assessment.may_approve_automatically(case):
            # high risk: the merchant's silence approves nothing; a reviewer decides
            case.merchant_deadline_at = None
            record("auto_approval_held", SYSTEM, case=case, note=Note("auto_approval_held"))
            continue
        cases.approve_in_transaction(
            case, SYSTEM, case.amount_requested_fen, Note("merchant_silent_approved")
        )
        notices.add(case, notices.MERCHANT, "merchant_silent", notices.MERCHANT_SILENT)


def _info_timeout(case_ids: list[int]) -> None:
    for case_id in case_ids:
        case = db.session.get_one(RefundCase, case_id)
        transition(case, State.CLOSED, SYSTEM, note=Note("info_timeout"))
        notices.add(case, notices.BUYER, "info_timeout", notices.INFO_TIMEOUT)


RULES: dict[str, Rule] = {
    rule.name: rule
    for rule in (
        Rule("review_reminder", RefundCase, _reminder_due, _remind, marker="reminded_at"),
        Rule("review_escalation", RefundCase, _escalation_due, _escalate, marker="escalated_at"),
        Rule("merchant_silence", RefundCase, _merchant_silence_due, _merchant_silent),
        Rule("info_timeout", RefundCase, _info_timeout_due, _info_timeout),
        Rule("payout_late", Payout, _payout_late_due, _payout_late, marker="late_flagged_at"),
    )
}
#: the rules about a case, run by the job scheduled at the case's deadlines
CASE_RULES = tuple(name for name, rule in RULES.items() if rule.table is RefundCase)
#: rules that only set their marker: the sweep fires them set-based, a batch per transaction
MARKER_RULES = tuple(name for name, rule in RULES.items() if rule.marker)
#: the marker rules grouped by their table: the sweep claims a group's rows in one UPDATE
MARKER_GROUPS = tuple(
    tuple(name for name in MARKER_RULES if RULES[name].table is table)
    for table in dict.fromkeys(RULES[name].table for name in MARKER_RULES)
)
#: rules that change a case's state: one case per transaction (the sweep enqueues a job each)
STATE_RULES = tuple(name for name, rule in RULES.items() if not rule.marker)


def apply(rule: Rule, ids: list[int], now: datetime) -> list[int]:
    """Fire ``rule`` for those of ``ids`` still due at ``now``, in the caller's transaction;
    the ids it acted on. The same for one row (a job) and for a batch (the sweep)."""
    return apply_together([rule], ids, now)[rule.name]


def apply_together(rules: Sequence[Rule], ids: list[int], now: datetime) -> dict[str, list[int]]:
    """Fire each of ``rules`` (on one table; several only if all set markers) for those of
    ``ids`` still due under it at ``now``, in the caller's transaction, in the order given;
    the ids each acted on."""
    if not ids:
        return {rule.name: [] for rule in rules}
    if len(rules) > 1 and db.engine.dialect.name == "postgresql":
        acted, _ = _claim_together(rules, now, _among(rules[0].table.id, ids))
    else:
        acted = {rule.name: _claim(rule, ids, now) for rule in rules}
    _act(rules, acted)
    return acted


def claims_pages() -> bool:
    """Whether the sweep claims its pages directly (:func:`apply_page`): on PostgreSQL."""
    return db.engine.dialect.name == "postgresql"


def apply_page(
    rules: Sequence[Rule], now: datetime, after: int, size: int
) -> tuple[dict[str, list[int]], int | None]:
    """The sweep's page on PostgreSQL: claim the first ``size`` rows after id ``after`` due
    under any of ``rules`` (marker rules on one table) and fire each rule for its own, in the
    caller's transaction, as :func:`apply_together` does for rows given by id; the ids each
    rule acted on and the page's last id (None: no row was due). The page is found and
    claimed by one statement, not read first and claimed by its ids after."""
    [table] = {rule.table for rule in rules}
    acted, last = _claim_together(rules, now, table.id > after, size)
    _act(rules, acted)
    return acted, last


def _act(rules: Sequence[Rule], acted: dict[str, list[int]]) -> None:
    """Each rule's effects for the rows it claimed, in the order given."""
    # the rules' events about one case link into its chain at once; a marker rule's claim (an
    # UPDATE) locked the cases it acts on, the owners of their chains (a payout's is its case)
    claimed_cases = rules[0].table is RefundCase and all(rule.marker for rule in rules)
    with events_together(owners_locked=claimed_cases), notices.together():
        for rule in rules:
            if acted[rule.name]:
                rule.act(acted[rule.name])


def _claim(rule: Rule, ids: list[int], now: datetime) -> list[int]:
    """Those of ``ids`` due under ``rule``; for a marker rule, claimed: the marker is set only
    where the rule is still due, by one run only."""
    due = and_(_among(rule.table.id, ids), rule.due(now))
    if rule.marker is None:
        return sorted(db.session.scalars(select(rule.table.id).where(due)))
    claim = update(rule.table).where(due).values({rule.marker: now}).returning(rule.table.id)
    return sorted(db.session.scalars(claim.execution_options(synchronize_session=False)))


def _claim_together(
    rules: Sequence[Rule], now: datetime, among: ColumnElement[bool], first: int | None = None
) -> tuple[dict[str, list[int]], int | None]:
    """Claim several marker rules' rows of those ``among`` selects (the ``first`` of them in id
    order, if given) in one UPDATE (PostgreSQL): each row's markers set for the rules still due
    for it; a row written once, not once per rule. Which rules are due is read, and the row
    locked, by a sub-select ``FOR UPDATE``: a row another transaction changed meanwhile is
    read again, as it now is, once that transaction ends. (SQLite's RETURNING cannot read the
    sub-select: there each rule claims in its own UPDATE.) The ids each rule claimed, and the
    largest id claimed (None: none)."""
    [table] = {rule.table for rule in rules}
    markers = [rule.marker for rule in rules]
    if None in markers:
        raise ValueError("only rules that set a marker are claimed together")
    flags = [rule.due(now).label(f"due_{i}") for i, rule in enumerate(rules)]
    found = select(table.id, *flags).where(among, or_(*(rule.due(now) for rule in rules)))
    if first is not None:
        found = found.order_by(table.id).limit(first)
    due = found.with_for_update().subquery()
    values = {
        rule.marker: case((due.c[f"due_{i}"], now), else_=getattr(table, rule.marker))
        for i, rule in enumerate(rules)
        if rule.marker is not None
    }
    claim = (
        update(table)
        .where(table.id == due.c.id)
        .values(values)
        .returning(table.id, *(due.c[f"due_{i}"] for i in range(len(rules))))
        .execution_options(synchronize_session=False)
    )
    rows = db.session.execute(claim).all()
    acted = {
        rule.name: sorted(row[0] for row in rows if row[i + 1]) for i, rule in enumerate(rules)
    }
    return acted, max((row[0] for row in rows), default=None)


def fire(rule: str, row_id: int) -> bool:
    """Apply ``rule`` to one case or payout if it is still due, and commit; True if it acted."""
    try:
        acted = apply(RULES[rule], [row_id], context.now())
        db.session.commit()
        return bool(acted)
    except DomainError as exc:
        db.session.rollback()  # someone acted first (compare-and-set), or a rule refused
        log.info("deadline rule %s on %s did nothing: %s", rule, row_id, exc)
        return False
    except Exception:
        db.session.rollback()
        raise
