"""Orders as the buyer and the rules see them: lookup, facts, refundable amount, code reveal."""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from portal.domain import payout_states
from portal.domain.policy import OrderFacts
from portal.domain.states import State
from portal.extensions import db
from portal.models import CardCode, Order, Payout, RefundCase
from portal.services import context
from portal.services.accounts.passwords import check_password, order_fix
from portal.services.actors import BUYER
from portal.services.errors import DomainError, NotFound
from portal.services.integration import source_passwords
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record

LOCAL_TZ = ZoneInfo("Asia/Shanghai")


#: orders with one number (in different shops) a lookup considers; bounds its Argon2 work
LOOKUP_CANDIDATES = 20


def lookup(order_no: str, contact: str, password: str) -> Order:
    """Find an order by number + contact + query password; NotFound (same message) otherwise.

    Order numbers are unique per shop only, so one number may name orders of several shops:
    the contact picks the candidates and the password is checked on each of them (once with
    a dummy hash when none is left, so a miss costs what a hit costs). If more than one
    matches, they are the same buyer's; the newest is shown. An order whose shop keeps its
    password (one an order source brought in) is checked against the shop's, and our hash
    is kept on a match (committed); when the shop cannot be asked and no other candidate
    matches, DomainError ``order_source_unreachable``.
    """
    candidates = db.session.scalars(
        select(Order)
        .where(Order.order_no == order_no.strip())
        .order_by(Order.id.desc())
        .limit(LOOKUP_CANDIDATES)
    ).all()
    wanted = contact.strip().lower()
    same_contact = [o for o in candidates if o.buyer_contact.strip().lower() == wanted]
    if not same_contact:
        check_password(None, password)
    unreachable = False
    for order in same_contact:
        if source_passwords.kept_at_source(order):
            try:
                if source_passwords.check(order, password):
                    db.session.commit()
                    return order
            except source_passwords.SourceUnreachable:
                unreachable = True
            continue
        if check_password(order.query_password_hash, password, functools.partial(_owner, order)):
            return order
    if unreachable:
        raise DomainError(
            N_(
                "The shop's order records cannot be reached to check the query password just"
                " now. Please try again in a few minutes."
            ),
            rule="order_source_unreachable",
        )
    raise NotFound(
        N_("No order matches that order number, contact and query password."),
        rule="lookup",
    )


def _owner(order: Order) -> tuple[str, str]:
    """The order and the fix, for the log, when its stored hash is never verified."""
    slug = order.merchant.slug
    return f"order {order.order_no} of {slug} (id {order.id})", order_fix(order.order_no, slug)


def get_for_buyer(order_no: str, allowed_ids: list[int]) -> Order | None:
    """The order with this number among those the buyer has looked up (newest first)."""
    if not allowed_ids:
        return None
    return db.session.scalar(
        select(Order)
        .where(Order.order_no == order_no, Order.id.in_(allowed_ids))
        .order_by(Order.id.desc())
        .limit(1)
    )


def committed_fen(order: Order, exclude_case_id: int | None = None) -> int:
    """Money refunded or on its way on this order (payouts, and approved cases not yet paid)."""
    paid_out = db.session.scalar(
        select(func.coalesce(func.sum(Payout.amount_fen), 0)).where(
            Payout.order_id == order.id, Payout.state.in_(payout_states.COMMITTED)
        )
    )
    waiting = select(func.coalesce(func.sum(RefundCase.amount_approved_fen), 0)).where(
        RefundCase.order_id == order.id, RefundCase.state == str(State.APPROVED)
    )
    if exclude_case_id is not None:
        waiting = waiting.where(RefundCase.id != exclude_case_id)
    return int(paid_out or 0) + int(db.session.scalar(waiting) or 0)


def refundable_fen(order: Order, exclude_case_id: int | None = None) -> int:
    """Paid minus everything already refunded or in flight."""
    paid = order.payment.captured_fen if order.payment else order.amount_fen
    if order.paid_at is None:
        return 0
    return max(0, paid - committed_fen(order, exclude_case_id))


def facts(order: Order, exclude_case_id: int | None = None) -> OrderFacts:
    """The facts eligibility rules need, with times in China time for messages."""
    product = order.product

    def local(dt: datetime | None) -> datetime | None:
        return dt.astimezone(LOCAL_TZ) if dt else None

    window_days = (
        product.refund_window_days
        if product.policy_overrides_window
        else int(context.setting("REFUND_WINDOW_DAYS"))
    )
    return OrderFacts(
        paid_at=local(order.paid_at),
        delivered_at=local(order.delivered_at),
        cancelled_at=local(order.cancelled_at),
        goods_used=order.goods_used,
        delivery_sla=timedelta(minutes=product.delivery_sla_minutes),
        refund_window=timedelta(days=window_days),
        policy_overrides_window=product.policy_overrides_window,
        policy_text=product.policy_text,
        refundable_fen=refundable_fen(order, exclude_case_id),
    )


def open_case(order: Order) -> RefundCase | None:
    """The order's open case, if any."""
    return db.session.scalar(select(RefundCase).where(RefundCase.open_order_id == order.id))


def cases_of(order: Order) -> list[RefundCase]:
    """Every case on the order, newest first."""
    return list(
        db.session.scalars(
            select(RefundCase).where(RefundCase.order_id == order.id).order_by(RefundCase.id.desc())
        )
    )


def refunded_in_full(order: Order) -> bool:
    """Whether everything paid is refunded or on its way back (then the goods are not the
    buyer's any more: no code of the order can be revealed)."""
    if order.paid_at is None or order.payment is None:
        return False
    return committed_fen(order) >= order.payment.captured_fen > 0


def visible_codes(order: Order) -> list[CardCode]:
    """Card codes the buyer may still see (returned ones are withdrawn from view)."""
    return [c for c in order.codes if c.returned_at is None]


def revealable_code(order: Order, code_id: int) -> CardCode:
    """One of this order's card codes that may still be shown; NotFound or DomainError if not."""
    code = db.session.get(CardCode, code_id)
    if code is None or code.order_id != order.id or code.returned_at is not None:
        raise NotFound(N_("Card code not found."), rule="code")
    if refunded_in_full(order):
        raise DomainError(
            N_("This order was refunded in full, so its card codes can no longer be shown."),
            rule="code_refunded",
        )
    return code


def reveal_code(order: Order, code_id: int) -> CardCode:
    """Show a card code to the buyer, logging the first reveal (evidence for reviews).

    Refused once the order is refunded in full: money and goods cannot both go back.
    """
    code = revealable_code(order, code_id)
    if code.first_revealed_at is None:
        code.first_revealed_at = context.now()
        record("code_revealed", BUYER, order_id=order.id, data={"code_id": code.id})
        db.session.commit()
    return code
