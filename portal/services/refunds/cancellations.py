"""Orders cancelled by the merchant or the platform refund themselves along the original route."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

from portal.domain.notes import Note
from portal.domain.policy import Kind, Reason
from portal.domain.states import State
from portal.extensions import db
from portal.models import Order, RefundCase
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.errors import ConcurrentChange, Conflict, DomainError
from portal.services.integration import orders
from portal.services.policy_text import N_
from portal.services.refunds import cases
from portal.services.refunds.transitions import record


def cancel_order(order: Order, reason: str, actor: Actor = SYSTEM) -> RefundCase | None:
    """Cancel the order and start its refund, with no application; None if nothing was paid.

    Idempotent: cancelling a cancelled order changes nothing and returns its case.
    """
    if order.cancelled_at is not None:
        return db.session.scalar(
            db.select(RefundCase).where(
                RefundCase.order_id == order.id, RefundCase.reason == str(Reason.CANCELLED)
            )
        )
    if order.goods_used:
        raise DomainError(
            N_("The goods were already used; the order cannot be cancelled."), rule="used"
        )
    if orders.open_case(order) is not None:
        raise Conflict(
            N_("This order has an open refund case; decide that case instead of cancelling."),
            rule="case_open",
        )
    try:
        order.cancelled_at = context.now()
        order.cancel_reason = reason.strip()[:200]
        record("order_cancelled", actor, order_id=order.id, reason=order.cancel_reason)
        amount = orders.refundable_fen(order)
        if amount <= 0 or order.paid_at is None:
            db.session.commit()
            return None
        case = RefundCase(
            case_no=cases.new_case_no(),
            order_id=order.id,
            merchant_id=order.merchant_id,
            product_id=order.product_id or 0,
            channel=order.payment.channel if order.payment is not None else "",
            open_order_id=order.id,
            kind=str(Kind.REFUND_ONLY),
            reason=str(Reason.CANCELLED),
            explanation=order.cancel_reason,
            amount_requested_fen=amount,
            state=str(State.SUBMITTED),
            created_at=context.now(),
            updated_at=context.now(),
        )
        db.session.add(case)
        db.session.flush()
        record(
            "applied",
            actor,
            case=case,
            to=str(State.SUBMITTED),
            reason=order.cancel_reason,
            data={"automatic": True},
        )
        cases.approve_in_transaction(case, SYSTEM, amount, Note("cancelled_auto_refund"))
        db.session.commit()
        return case
    except IntegrityError:  # a buyer's application opened a case a moment ago
        db.session.rollback()
        raise ConcurrentChange(
            N_("This order has an open refund case; decide that case instead of cancelling."),
            rule="case_open",
        ) from None
    except Exception:
        db.session.rollback()
        raise
