"""The signals of one case, measured in a few indexed statements (never a loop over rows).

Counts are as of the moment the case was filed, and leave the case itself out of the
buyer's history (velocity counts include it: "the fifth application within an hour").
Statements: the buyer's history and velocity by contact (one), by payer id (one, when the
payment names a payer), by network address (one, when the application has one), pictures
on other cases (one, when the case has files), the watch list (one).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from portal.domain import risk
from portal.domain.risk import Signal, SignalCode
from portal.domain.states import State
from portal.extensions import db
from portal.models import Evidence, Order, Payment, RefundCase, WatchEntry
from portal.services import context

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MONTH = timedelta(days=30)
#: other cases named in the reason (the count stops one past them)
SHOWN = 5
#: states in which a case's money went (or is going) back to the buyer
REFUNDED_STATES = (str(State.APPROVED), str(State.REFUNDING), str(State.REFUNDED))
#: states in which an appealed case ended against the buyer
LOST_STATES = (str(State.REJECTED), str(State.CLOSED))


def _count_since(start: datetime) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((RefundCase.created_at >= start, 1), else_=0)), 0)


def measure(case_row: RefundCase, order: Order) -> list[Signal]:
    """Every signal of ``case_row`` on ``order`` (signals that found nothing have value 0)."""
    as_of = case_row.created_at
    found: list[Signal] = []
    found += _codes(case_row, order)
    found += _contact(case_row, order.buyer_contact, as_of)
    payer = order.payment.payer_id if order.payment is not None else ""
    found += _payer(case_row, payer, as_of)
    found += _address(case_row, as_of)
    found.append(_same_evidence(case_row))
    found.append(_watch_list(order.buyer_contact, payer))
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


def _contact(case_row: RefundCase, contact: str, as_of: datetime) -> list[Signal]:
    """History and velocity of the order's contact: one statement."""
    refunded_order = case((RefundCase.state.in_(REFUNDED_STATES), RefundCase.order_id))
    recent_refund = case(
        (
            and_(RefundCase.state.in_(REFUNDED_STATES), RefundCase.created_at >= as_of - MONTH),
            func.coalesce(RefundCase.amount_approved_fen, 0),
        ),
        else_=0,
    )
    lost = case((and_(RefundCase.appeal_count >= 1, RefundCase.state.in_(LOST_STATES)), 1), else_=0)
    orders = select(func.count(Order.id)).where(Order.buyer_contact == contact).scalar_subquery()
    row = db.session.execute(
        select(
            func.count(RefundCase.id),
            _count_since(as_of - HOUR),
            _count_since(as_of - DAY),
            func.count(func.distinct(refunded_order)),
            func.coalesce(func.sum(recent_refund), 0),
            func.coalesce(func.sum(lost), 0),
            orders,
        )
        .select_from(RefundCase)
        .join(Order, Order.id == RefundCase.order_id)
        .where(
            Order.buyer_contact == contact,
            RefundCase.id != case_row.id,
            RefundCase.created_at <= as_of,
        )
    ).one()
    earlier, hour, day, refunded, amount, appeals_lost, n_orders = (int(v or 0) for v in row)
    rate = risk.refund_rate_percent(refunded, n_orders)
    return [
        Signal(SignalCode.CONTACT_APPLICATIONS, earlier, {"count": earlier}),
        Signal(
            SignalCode.CONTACT_REFUND_RATE,
            rate,
            {"refunded": refunded, "orders": n_orders, "value": rate},
        ),
        Signal(SignalCode.CONTACT_REFUNDED_30D, amount, {"amount_fen": amount}),
        Signal(SignalCode.CONTACT_APPEALS_LOST, appeals_lost, {"count": appeals_lost}),
        Signal(SignalCode.VELOCITY_CONTACT_HOUR, hour + 1, {"count": hour + 1}),
        Signal(SignalCode.VELOCITY_CONTACT_DAY, day + 1, {"count": day + 1}),
    ]


def _payer(case_row: RefundCase, payer: str, as_of: datetime) -> list[Signal]:
    """History and velocity of the payer account the gateway reported: one statement."""
    if not payer:
        return []
    row = db.session.execute(
        select(func.count(RefundCase.id), _count_since(as_of - HOUR), _count_since(as_of - DAY))
        .select_from(RefundCase)
        .join(Payment, Payment.order_id == RefundCase.order_id)
        .where(
            Payment.payer_id == payer,
            RefundCase.id != case_row.id,
            RefundCase.created_at <= as_of,
        )
    ).one()
    earlier, hour, day = (int(v or 0) for v in row)
    return [
        Signal(SignalCode.PAYER_APPLICATIONS, earlier, {"count": earlier}),
        Signal(SignalCode.VELOCITY_PAYER_HOUR, hour + 1, {"count": hour + 1}),
        Signal(SignalCode.VELOCITY_PAYER_DAY, day + 1, {"count": day + 1}),
    ]


def _address(case_row: RefundCase, as_of: datetime) -> list[Signal]:
    """Applications from the same network address in the last day: one statement."""
    address = case_row.applicant_address
    if not address:
        return []
    row = db.session.execute(
        select(func.count(RefundCase.id), _count_since(as_of - HOUR)).where(
            RefundCase.applicant_address == address,
            RefundCase.created_at > as_of - DAY,
            RefundCase.created_at <= as_of,
            RefundCase.id != case_row.id,
        )
    ).one()
    day, hour = (int(v or 0) for v in row)
    return [
        Signal(SignalCode.VELOCITY_ADDRESS_HOUR, hour + 1, {"count": hour + 1}),
        Signal(SignalCode.VELOCITY_ADDRESS_DAY, day + 1, {"count": day + 1}),
    ]


def _same_evidence(case_row: RefundCase) -> Signal:
    """Other cases holding the same file (equal SHA-256) or the same picture (equal
    perceptual hash, as the evidence list flags it): one statement, reading this case's
    files in the database (those just attached included)."""
    mine = aliased(Evidence)
    same = exists().where(
        mine.case_id == case_row.id,
        or_(mine.sha256 == Evidence.sha256, mine.phash == Evidence.phash),
    )
    db.session.flush()
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


def _watch_list(contact: str, payer: str) -> Signal:
    """A live watch-list entry on the contact or the payer id: one statement."""
    wanted = [and_(WatchEntry.kind == str(risk.WatchKind.CONTACT), WatchEntry.value == contact)]
    if payer:
        wanted.append(and_(WatchEntry.kind == str(risk.WatchKind.PAYER), WatchEntry.value == payer))
    entry = db.session.execute(
        select(WatchEntry.id, WatchEntry.expires_at)
        .where(
            or_(*wanted),
            WatchEntry.removed_at.is_(None),
            WatchEntry.expires_at > context.now(),
        )
        .order_by(WatchEntry.expires_at.desc())
        .limit(1)
    ).first()
    if entry is None:
        return Signal(SignalCode.WATCH_LIST, 0)
    return Signal(
        SignalCode.WATCH_LIST, 1, {"entry": entry.id, "until_at": entry.expires_at.isoformat()}
    )
