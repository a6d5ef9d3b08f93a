"""Operator actions on payouts: retry with the same key, or a recorded refund by another route."""

from __future__ import annotations

from portal.domain import payout_states
from portal.domain.payout_states import PayoutState
from portal.domain.states import State
from portal.extensions import db
from portal.models import Payout, RefundCase
from portal.services import context
from portal.services.actors import Actor
from portal.services.after_commit import call_after_commit
from portal.services.errors import DomainError
from portal.services.integration.orders import refundable_fen
from portal.services.money import ledger
from portal.services.money.payouts import _enqueue_settlement, lock_payment, new_key
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_payout, record, transition


def _failed_payout(payout_id: int, another_way: bool = False) -> tuple[Payout, RefundCase]:
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        raise DomainError(N_("Payout not found."), rule="payout")
    if another_way and payout.state in payout_states.MAY_PAY_ANOTHER_WAY:
        return payout, db.session.get_one(RefundCase, payout.case_id)
    if payout.state not in payout_states.NEEDS_OPERATOR:
        raise DomainError(
            N_("Only a failed or returned payout can be retried or paid another way."),
            rule="payout_state",
        )
    return payout, db.session.get_one(RefundCase, payout.case_id)


def retry(payout_id: int, actor: Actor) -> None:
    """Send the same refund again with the same idempotency key (invariant 2)."""
    try:
        payout, case = _failed_payout(payout_id)
        order = case.order
        lock_payment(order)
        if payout.amount_fen > refundable_fen(order):
            raise DomainError(
                N_("That is more than is still refundable on this order."), rule="over_refund"
            )
        moved = move_payout(
            payout.id,
            PayoutState(payout.state),
            PayoutState.CREATED,
            actor,
            case=case,
            kind="payout_retried",
            data={"key": payout.idempotency_key},
            next_attempt_at=None,
            exported_at=None,
        )
        if not moved:
            raise DomainError(
                N_("Someone else changed this payout a moment ago."), rule="concurrent"
            )
        transition(case, State.REFUNDING, actor, data={"payout_id": payout.id})
        call_after_commit(db.session(), lambda: _enqueue_settlement(payout_id))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise


def pay_another_way(payout_id: int, actor: Actor, route: str, note: str) -> Payout:
    """Record that the refund was paid by another route (explicit decision, invariant 7).

    A payout the channel holds (ABNORMAL) is first set aside (failed): should the channel
    still pay it later, that success is raised as a possible double payment.
    """
    if not route.strip() or not note.strip():
        raise DomainError(
            N_("Name the route and explain the decision (e.g. WeChat ABNORMAL: card closed)."),
            rule="manual_route",
        )
    try:
        payout, case = _failed_payout(payout_id, another_way=True)
        lock_payment(case.order)
        if payout.state in payout_states.HELD and not move_payout(
            payout.id,
            PayoutState(payout.state),
            PayoutState.FAILED,
            actor,
            case=case,
            kind="payout_set_aside",
            reason=note.strip(),
            data={"route": route.strip()},
            next_attempt_at=None,
        ):
            raise DomainError(
                N_("Someone else changed this payout a moment ago."), rule="concurrent"
            )
        manual = Payout(
            case_id=case.id,
            order_id=payout.order_id,
            payment_id=payout.payment_id,
            channel="manual:" + route.strip()[:30],
            idempotency_key=new_key(),
            amount_fen=payout.amount_fen,
            currency=payout.currency,
            state=PayoutState.SUCCEEDED,  # created settled: paid outside every channel
            created_at=context.now(),
            settled_at=context.now(),
            last_message=note.strip()[:2000],
        )
        if manual.amount_fen > refundable_fen(case.order):
            raise DomainError(
                N_("That is more than is still refundable on this order."), rule="over_refund"
            )
        db.session.add(manual)
        db.session.flush()
        ledger.record_payout(
            manual.id, case.merchant_id, case.order_id, manual.channel, manual.amount_fen
        )
        record(
            "payout_manual_route",
            actor,
            case=case,
            payout_id=manual.id,
            reason=note.strip(),
            data={"replaces": payout.id, "route": route.strip(), "amount_fen": manual.amount_fen},
        )
        transition(case, State.REFUNDED, actor, note.strip(), data={"payout_id": manual.id})
        db.session.commit()
        return manual
    except Exception:
        db.session.rollback()
        raise
