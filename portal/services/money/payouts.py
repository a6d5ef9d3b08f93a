"""Creating payouts: the idempotency key is stored before any gateway call.

Settlement itself (calling the channel, queries, notifications) lives in
``portal.services.money.settlement`` and the ``jobs.settlement`` job.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import Row, select

from portal.domain.payout_states import PayoutState
from portal.domain.states import State
from portal.extensions import db
from portal.infra.queue import enqueue
from portal.models import Order, Payment, Payout, RefundCase
from portal.plugins.channels import PaymentRef, PayoutChannel
from portal.plugins.startup import channels
from portal.services import context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.errors import DomainError
from portal.services.integration.orders import refundable_fen
from portal.services.money import channel_switches, ledger
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record, transition

log = logging.getLogger(__name__)


def new_key() -> str:
    """A fresh idempotency key (≤ 64 chars, as Alipay and WeChat require)."""
    return "RP" + secrets.token_hex(15).upper()


def lock_payment(order: Order) -> Payment:
    """Lock the order's payment row for the rest of the transaction (invariant 1)."""
    payment = db.session.scalar(
        select(Payment).where(Payment.order_id == order.id).with_for_update()
    )
    if payment is None:
        raise DomainError(N_("This order has no payment to refund."), rule="no_payment")
    return payment


def payment_ref(payment: Payment | Row | SimpleNamespace) -> PaymentRef:
    """The channel's view of the original payment."""
    return PaymentRef(
        channel=payment.channel,
        gateway_trade_id=payment.gateway_trade_id,
        merchant_trade_no=payment.merchant_trade_no,
        captured_fen=payment.captured_fen,
        currency=payment.currency,
        extra={str(k): str(v) for k, v in (payment.extra or {}).items()},
    )


def expected_arrival(channel: PayoutChannel, payment: Payment, start: datetime) -> datetime:
    """When the buyer can expect the money: the channel's promise on the working-day calendar."""
    window = channel.arrival(payment_ref(payment))
    if window.unit == "working_days" and window.high > 0:
        return context.calendar().add_working_days(start, window.high)
    return start


def start_payout(case: RefundCase, actor: Actor, amount_fen: int) -> Payout:
    """Create the payout for an approved case and move it to refunding (no commit).

    The settlement job is enqueued only after the caller's transaction commits.
    """
    if amount_fen <= 0:
        raise DomainError(N_("The refund amount must be more than 0."), rule="amount")
    order = case.order
    payment = lock_payment(order)
    if amount_fen > refundable_fen(order, exclude_case_id=case.id):
        raise DomainError(
            N_("That is more than is still refundable on this order."), rule="over_refund"
        )
    registry = channels()
    if payment.channel not in registry:
        raise DomainError(
            N_("The payment route %(channel)s is not available right now; nothing was changed."),
            rule="channel_missing",
            channel=payment.channel,
        )
    if not channel_switches.is_enabled(payment.channel):
        raise DomainError(
            N_("The payment route %(channel)s is disabled by an operator; nothing was changed."),
            rule="channel_disabled",
            channel=payment.channel,
        )
    channel = registry.get(payment.channel)
    if amount_fen < payment.captured_fen and not channel.supports_partial_refund(
        payment_ref(payment)
    ):
        raise DomainError(
            N_("This payment route only refunds the whole amount."), rule="no_partial"
        )
    now = context.now()
    payout = Payout(
        case_id=case.id,
        order_id=order.id,
        payment_id=payment.id,
        channel=payment.channel,
        idempotency_key=new_key(),
        amount_fen=amount_fen,
        currency=payment.currency,
        state=PayoutState.CREATED,
        created_at=now,
        expected_arrival_at=expected_arrival(channel, payment, now),
    )
    db.session.add(payout)
    db.session.flush()
    ledger.charge_refund(case.id, order, amount_fen, payout.id, actor)
    transition(case, State.REFUNDING, actor, data={"payout_id": payout.id})
    record(
        "payout_created",
        actor,
        case=case,
        payout_id=payout.id,
        data={"amount_fen": amount_fen, "channel": payout.channel, "key": payout.idempotency_key},
    )
    payout_id = payout.id
    call_after_commit(db.session(), lambda: _enqueue_settlement(payout_id))
    return payout


def _enqueue_settlement(payout_id: int) -> None:
    try:
        enqueue("jobs.settlement.settle_payout", payout_id)
    except Exception:
        log.exception("could not enqueue settlement of payout %s", payout_id)
