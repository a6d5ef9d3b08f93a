"""Creating payouts: the idempotency key is stored before any gateway call.

Settlement itself (calling the channel, queries, notifications) lives in
``portal.services.settlement`` and the ``jobs.settlement`` job.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from portal.domain.states import State
from portal.extensions import db
from portal.models import Order, Payment, Payout, RefundCase
from portal.services import context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.errors import DomainError
from portal.services.orders import refundable_fen
from portal.services.policy_text import N_
from portal.services.transitions import record, transition


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
    payout = Payout(
        case_id=case.id,
        order_id=order.id,
        payment_id=payment.id,
        channel=payment.channel,
        idempotency_key=new_key(),
        amount_fen=amount_fen,
        currency=payment.currency,
        state="created",
        created_at=context.now(),
    )
    db.session.add(payout)
    db.session.flush()
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
    from portal.queue import enqueue

    try:
        enqueue("jobs.settlement.settle_payout", payout_id, job_id=f"settle-{payout_id}-0")
    except Exception:
        from flask import current_app

        current_app.logger.exception("could not enqueue settlement of payout %s", payout_id)
