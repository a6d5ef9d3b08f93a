"""The signals of one case, measured in a few indexed statements (never a loop over rows):
one for the buyer's history and velocity by contact, by payer id and by network address and
for the watch list (scalar subqueries beside the contact's aggregates) and, only when the case
has files, one for identical pictures on other cases and one for altered copies (the
candidates on the hashes' band indexes: ``uploads.similar_pictures``).

Counts are as of the moment the case was filed, and leave the case itself out of the
buyer's history (velocity counts include it: "the fifth application within an hour"). The
watch list is read as of now: an entry added since the filing counts.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, literal, or_, select
from sqlalchemy.orm import aliased

from portal.domain import risk
from portal.domain.risk import Signal, SignalCode
from portal.domain.states import State
from portal.domain.supplier_checks import Redemption
from portal.extensions import db
from portal.models import Evidence, Order, Payment, RefundCase, SupplierCheck, WatchEntry
from portal.services import context
from portal.services.uploads import similar_pictures

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MONTH = timedelta(days=30)
#: other cases named in the reason (the count stops one past them)
SHOWN = 5
#: states in which a case's money went (or is going) back to the buyer
REFUNDED_STATES = (str(State.APPROVED), str(State.REFUNDING), str(State.REFUNDED))
#: states in which an appealed case ended against the buyer
LOST_STATES = (str(State.REJECTED), str(State.CLOSED))


def normal_contact(contact: str) -> str:
    """A contact as the order lookup compares it: trimmed, lower case."""
    return (contact or "").strip().lower()


def _contact_is(contact: str) -> ColumnElement[bool]:
    """Orders whose contact is ``contact`` (compared normalised, on the expression's index)."""
    return func.lower(func.trim(Order.buyer_contact)) == normal_contact(contact)


def _sum(condition: ColumnElement[bool], value: Any = 1) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, value), else_=0)), 0)


def measure(case_row: RefundCase, order: Order, with_files: bool = True) -> list[Signal]:
    """Every signal of ``case_row`` on ``order`` (signals that found nothing have value 0).
    ``with_files``: whether the case has evidence files (False skips that statement)."""
    payer = order.payment.payer_id if order.payment is not None else ""
    found = _codes(case_row, order)
    found += _history(case_row, order.buyer_contact, payer)
    if with_files:
        found += [_same_evidence(case_row), _similar_evidence(case_row)]
    return found


def _codes(case_row: RefundCase, order: Order) -> list[Signal]:
    """A code revealed, or goods reported used, before a claim the code does not work."""
    out: list[Signal] = []
    if case_row.reason not in {str(r) for r in risk.CODE_CLAIMS}:
        return out
    revealed = [
        c.first_revealed_at
        for c in order.codes
        if c.first_revealed_at is not None and c.first_revealed_at <= case_row.created_at
    ]
    if revealed:
        first = min(revealed)
        out.append(Signal(SignalCode.REVEALED_BEFORE_CLAIM, 1, {"revealed_at": first.isoformat()}))
    used_at = order.goods_used_at
    if order.goods_used and used_at is not None and used_at <= case_row.created_at:
        out.append(Signal(SignalCode.USED_BEFORE_CLAIM, 1, {"used_at": used_at.isoformat()}))
    return out


def _others(case_row: RefundCase, as_of: datetime) -> ColumnElement[bool]:
    return and_(RefundCase.id != case_row.id, RefundCase.created_at <= as_of)


def _payer_counts(case_row: RefundCase, payer: str, as_of: datetime) -> list[Any]:
    """(earlier, in the hour, in the day) by payer id, as scalar subqueries (0s without one)."""
    if not payer:
        return [literal(0), literal(0), literal(0)]
    cases = aliased(RefundCase)
    base = (
        select(func.count(cases.id))
        .join(Payment, Payment.order_id == cases.order_id)
        .where(Payment.payer_id == payer, cases.id != case_row.id, cases.created_at <= as_of)
    )
    return [
        base.scalar_subquery(),
        base.where(cases.created_at >= as_of - HOUR).scalar_subquery(),
        base.where(cases.created_at >= as_of - DAY).scalar_subquery(),
    ]


def _address_counts(case_row: RefundCase, as_of: datetime) -> list[Any]:
    """(in the hour, in the day) from the application's network address (0s without one)."""
    address = case_row.applicant_address
    if not address:
        return [literal(0), literal(0)]
    cases = aliased(RefundCase)
    base = select(func.count(cases.id)).where(
        cases.applicant_address == address, cases.id != case_row.id, cases.created_at <= as_of
    )
    return [
        base.where(cases.created_at >= as_of - HOUR).scalar_subquery(),
        base.where(cases.created_at >= as_of - DAY).scalar_subquery(),
    ]


def _watch(contact: str, payer: str) -> list[Any]:
    """(entry id, until) of the live watch-list entry lasting longest, as scalar subqueries."""
    wanted = [
        and_(
            WatchEntry.kind == str(risk.WatchKind.CONTACT),
            WatchEntry.value == normal_contact(contact),
        )
    ]
    if payer:
        wanted.append(and_(WatchEntry.kind == str(risk.WatchKind.PAYER), WatchEntry.value == payer))
    live = (
        or_(*wanted),
        WatchEntry.removed_at.is_(None),
        WatchEntry.expires_at > context.now(),
    )
    order = (WatchEntry.expires_at.desc(), WatchEntry.id.desc())
    return [
        select(WatchEntry.id).where(*live).order_by(*order).limit(1).scalar_subquery(),
        select(WatchEntry.expires_at).where(*live).order_by(*order).limit(1).scalar_subquery(),
    ]


def _history(case_row: RefundCase, contact: str, payer: str) -> list[Signal]:
    """History and velocity by contact, payer and address, and the watch list: one statement."""
    as_of = case_row.created_at
    refunded = RefundCase.state.in_(REFUNDED_STATES)
    recent_refund = _sum(
        and_(refunded, RefundCase.created_at >= as_of - MONTH),
        func.coalesce(RefundCase.amount_approved_fen, 0),
    )
    lost = _sum(and_(RefundCase.appeal_count >= 1, RefundCase.state.in_(LOST_STATES)))
    orders = select(func.count(Order.id)).where(_contact_is(contact))
    row = db.session.execute(
        select(
            func.count(RefundCase.id),
            _sum(RefundCase.created_at >= as_of - HOUR),
            _sum(RefundCase.created_at >= as_of - DAY),
            func.count(func.distinct(case((refunded, RefundCase.order_id)))),
            recent_refund,
            lost,
            orders.scalar_subquery(),
            *_payer_counts(case_row, payer, as_of),
            *_address_counts(case_row, as_of),
            *_watch(contact, payer),
            *_supplier(case_row),
        )
        .select_from(RefundCase)
        .join(Order, Order.id == RefundCase.order_id)
        .where(_contact_is(contact), _others(case_row, as_of))
    ).one()
    *counts, watch_id, watch_until = row[:-5]
    supplier = row[-5:]
    (earlier, hour, day, refunded_orders, amount, appeals_lost, n_orders) = (
        int(v or 0) for v in counts[:7]
    )
    payer_earlier, payer_hour, payer_day, address_hour, address_day = (
        int(v or 0) for v in counts[7:]
    )
    rate = risk.refund_rate_percent(refunded_orders, n_orders)
    out = [
        Signal(SignalCode.CONTACT_APPLICATIONS, earlier, {"count": earlier}),
        Signal(
            SignalCode.CONTACT_REFUND_RATE,
            rate,
            {"refunded": refunded_orders, "orders": n_orders, "value": rate},
        ),
        Signal(SignalCode.CONTACT_REFUNDED_30D, amount, {"amount_fen": amount}),
        Signal(SignalCode.CONTACT_APPEALS_LOST, appeals_lost, {"count": appeals_lost}),
        _velocity(SignalCode.VELOCITY_CONTACT_HOUR, hour),
        _velocity(SignalCode.VELOCITY_CONTACT_DAY, day),
    ]
    if payer:
        out += [
            Signal(SignalCode.PAYER_APPLICATIONS, payer_earlier, {"count": payer_earlier}),
            _velocity(SignalCode.VELOCITY_PAYER_HOUR, payer_hour),
            _velocity(SignalCode.VELOCITY_PAYER_DAY, payer_day),
        ]
    if case_row.applicant_address:
        out += [
            _velocity(SignalCode.VELOCITY_ADDRESS_HOUR, address_hour),
            _velocity(SignalCode.VELOCITY_ADDRESS_DAY, address_day),
        ]
    out.append(_watch_signal(watch_id, watch_until))
    out += _supplier_signals(*supplier)
    return out


def _supplier(case_row: RefundCase) -> list[Any]:
    """What the card suppliers said of this case's codes, as scalar subqueries: codes
    redeemed, by which supplier, asked when; codes unknown, by which plugin."""
    checks = select(func.count(func.distinct(SupplierCheck.code_id))).where(
        SupplierCheck.case_id == case_row.id
    )
    redeemed = SupplierCheck.status == str(Redemption.REDEEMED)
    unknown = SupplierCheck.status == str(Redemption.UNKNOWN)
    of_case = SupplierCheck.case_id == case_row.id
    return [
        checks.where(redeemed).scalar_subquery(),
        select(func.max(SupplierCheck.supplier)).where(of_case, redeemed).scalar_subquery(),
        select(func.min(SupplierCheck.checked_at)).where(of_case, redeemed).scalar_subquery(),
        checks.where(unknown).scalar_subquery(),
        select(func.max(SupplierCheck.plugin)).where(of_case, unknown).scalar_subquery(),
    ]


def _supplier_signals(
    redeemed: Any, supplier: Any, asked_at: Any, unknown: Any, plugin: Any
) -> list[Signal]:
    out = []
    if redeemed:
        out.append(
            Signal(
                SignalCode.SUPPLIER_REDEEMED,
                int(redeemed),
                {
                    "count": int(redeemed),
                    "supplier": str(supplier or ""),
                    "checked_at": _iso(asked_at),
                },
            )
        )
    if unknown:
        out.append(
            Signal(
                SignalCode.SUPPLIER_UNKNOWN,
                int(unknown),
                {"count": int(unknown), "plugin": str(plugin or "")},
            )
        )
    return out


def _iso(value: Any) -> str:
    """A time read through a scalar subquery (SQLite gives text back) as ISO text in UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    return ""


def _velocity(code: SignalCode, others: int) -> Signal:
    """A velocity signal: the other applications in the window, and this one."""
    return Signal(code, others + 1, {"count": others + 1})


def _watch_signal(entry_id: int | None, until: Any) -> Signal:
    if entry_id is None:
        return Signal(SignalCode.WATCH_LIST, 0)
    if isinstance(until, str):  # a scalar subquery's time, as SQLite gives it back (UTC)
        until = datetime.fromisoformat(until)
    if isinstance(until, datetime) and until.tzinfo is None:
        until = until.replace(tzinfo=UTC)
    shown = until.isoformat() if isinstance(until, datetime) else str(until)
    return Signal(SignalCode.WATCH_LIST, 1, {"entry": int(entry_id), "until_at": shown})


def _same_evidence(case_row: RefundCase) -> Signal:
    """Other cases holding the same file (equal SHA-256) or the same picture (equal
    perceptual hash, as the evidence list flags it): one statement, reading this case's
    files in the database (those just attached included)."""
    mine = aliased(Evidence)
    same = exists().where(
        mine.case_id == case_row.id,
        or_(mine.sha256 == Evidence.sha256, mine.phash == Evidence.phash),
    )
    numbers = list(
        db.session.scalars(
            select(RefundCase.case_no)
            .join(Evidence, Evidence.case_id == RefundCase.id)
            .where(RefundCase.id != case_row.id, same)
            .distinct()
            .order_by(RefundCase.case_no)
            .limit(SHOWN + 1)
        )
    )
    count = len(numbers)
    shown = ", ".join(numbers[:SHOWN]) + (" …" if count > SHOWN else "")
    return Signal(SignalCode.SAME_EVIDENCE, count, {"count": count, "cases": shown})


def _similar_evidence(case_row: RefundCase) -> Signal:
    """Other cases holding an altered copy of one of this case's pictures (near perceptual
    hashes, found on the hashes' band indexes: one statement, and one to load the case's
    files if they are not loaded yet)."""
    near = similar_pictures.near_on_other_cases(case_row)
    count = len(near)
    if not count:
        return Signal(SignalCode.SIMILAR_EVIDENCE, 0)
    shown = ", ".join(n.case_no for n in near[:SHOWN]) + (" …" if count > SHOWN else "")
    bits = min(n.bits for n in near)
    return Signal(
        SignalCode.SIMILAR_EVIDENCE, count, {"count": count, "cases": shown, "bits": bits}
    )
