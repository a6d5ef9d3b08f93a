"""Settling payouts exactly once: call the channel, resolve unknowns by query, apply results.

Invariants (../shared/payments.md): the key is stored before the first attempt and
never regenerated; a retry sends the same fields; unknown is resolved by query;
states only move forward; the case is refunded in the same transaction as the
payout's success.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import NamedTuple

from sqlalchemy import Row, select

from portal.domain import payout_states
from portal.domain.payout_states import PayoutState
from portal.domain.states import State
from portal.extensions import db
from portal.models import ChannelSwitch, Event, Payment, Payout, RefundCase
from portal.plugins.channels import (
    Notification,
    RefundRequest,
    RefundResult,
    ResultStatus,
)
from portal.plugins.startup import channels
from portal.services import context
from portal.services.actors import SYSTEM
from portal.services.messaging import notices
from portal.services.money import channel_switches, ledger
from portal.services.money.payouts import payment_ref
from portal.services.refunds.transitions import move_payout, record, transition

#: waits between queries of an unknown/pending payout (attempt n -> delay)
BACKOFF = (10, 30, 60, 300, 900, 3600)


@dataclass(frozen=True)
class Step:
    """What the job should do next after one settlement step."""

    done: bool
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Seen:
    """A payout as read before the gateway call; writing compares against its state."""

    id: int
    case_id: int
    channel: str
    amount_fen: int
    state: PayoutState
    attempts: int
    gateway_reference: str
    settled_at: datetime | None

    @classmethod
    def of(cls, payout: Payout | Row) -> Seen:
        """Copy the fields a settlement step needs (they survive the session's rollback)."""
        return cls(
            payout.id,
            payout.case_id,
            payout.channel,
            payout.amount_fen,
            PayoutState(payout.state),
            payout.attempts,
            payout.gateway_reference,
            payout.settled_at,
        )


def refund_request(
    payout: Payout | Row, payment: Payment | SimpleNamespace, case_no: str
) -> RefundRequest:
    """The immutable request for a payout: the same bytes on every attempt."""
    base = context.setting("PUBLIC_BASE_URL").rstrip("/")
    return RefundRequest(
        idempotency_key=payout.idempotency_key,
        payment=payment_ref(payment),
        amount_fen=payout.amount_fen,
        currency=payout.currency,
        reason=f"refund {case_no}",
        notify_url=f"{base}/callbacks/{payment.channel}",
    )


class Due(NamedTuple):
    """What one settlement step reads: plain values, no ORM objects (see ``load``)."""

    payout: Row
    payment: SimpleNamespace
    case_no: str
    enabled: bool


def load(payout_id: int) -> Due | None:
    """The payout, its payment, its case number and whether its channel is enabled: one query.

    Plain rows rather than ORM objects: the step only needs these values, and they outlive
    the rollback that ends the read.
    """
    payments = Payment.__table__
    row = db.session.execute(
        select(
            Payout.__table__,
            *(c.label(f"pm__{c.name}") for c in payments.c),
            RefundCase.case_no,
            ChannelSwitch.enabled,
        )
        .join(Payment, Payment.id == Payout.payment_id)
        .join(RefundCase, RefundCase.id == Payout.case_id)
        .outerjoin(ChannelSwitch, ChannelSwitch.channel_id == Payout.channel)
        .where(Payout.id == payout_id)
    ).first()
    if row is None:
        return None
    values = row._mapping
    payment = SimpleNamespace(**{c.name: values[f"pm__{c.name}"] for c in payments.c})
    return Due(row, payment, row.case_no, channel_switches.allows(row.enabled))


def read_payout(payout_id: int) -> Row | None:
    """The payout as a plain row: the database's state, whatever the session holds."""
    return db.session.execute(select(Payout.__table__).where(Payout.id == payout_id)).first()


def _case_row(case_id: int) -> Row:
    """The case as a plain row with the columns its transition reads (its shop among them)."""
    return db.session.execute(select(RefundCase.__table__).where(RefundCase.id == case_id)).one()


def settle(payout_id: int) -> Step:
    """One settlement step for a payout; safe to run any number of times."""
    due = load(payout_id)
    if due is None or due.payout.state in payout_states.FINAL | payout_states.HELD:
        db.session.rollback()  # held: an operator's redirect or a notification moves it
        return Step(done=True)
    if not due.enabled:  # held until an operator enables the channel again
        db.session.rollback()
        return Step(done=False, retry_at=context.now() + timedelta(seconds=BACKOFF[3]))
    request = refund_request(due.payout, due.payment, due.case_no)
    seen = Seen.of(due.payout)
    channel = channels().get(seen.channel)
    db.session.rollback()  # hold no transaction (or lock) while talking to the gateway
    if seen.state in payout_states.UNRESOLVED:
        result = channel.query_refund(request)
        if result.status == ResultStatus.PENDING and result.code == "NOT_FOUND":
            result = channel.execute_refund(request)  # never reached the gateway: same key again
    else:
        result = channel.execute_refund(request)
    return apply_result(payout_id, result, source="call", seen=seen)


#: the payout state each of a channel's answers puts a payout in
_STATES = {
    ResultStatus.SUCCEEDED: PayoutState.SUCCEEDED,
    ResultStatus.PENDING: PayoutState.PENDING,
    ResultStatus.UNKNOWN: PayoutState.UNKNOWN,
    ResultStatus.FAILED: PayoutState.FAILED,
    ResultStatus.ABNORMAL: PayoutState.ABNORMAL,
}


def apply_result(
    payout_id: int, result: RefundResult, source: str, seen: Seen | None = None
) -> Step:
    """Record a gateway answer on the payout (and the case), moving states only forward.

    ``seen`` is the payout as read before the gateway call, if the caller has it: the
    write compares against its state, and reads the payout again only if that changed.
    """
    for _ in range(2):
        if seen is None:
            payout = read_payout(payout_id)
            if payout is None:
                db.session.rollback()
                return Step(done=True)
            seen = Seen.of(payout)
        new_state = _STATES[result.status]
        if (
            seen.state == PayoutState.SUCCEEDED
            and new_state == PayoutState.FAILED
            and source == "statement"
        ):
            new_state = PayoutState.RETURNED  # the bank sent a booked transfer back
        if not payout_states.allowed(seen.state, new_state):  # a late or repeated answer
            if new_state == PayoutState.SUCCEEDED and seen.state in payout_states.NEEDS_OPERATOR:
                raise_late_success(seen, result, source)
                db.session.commit()
            else:
                db.session.rollback()
            return Step(done=seen.state in payout_states.FINAL)
        retry_at = None
        if new_state in payout_states.UNRESOLVED:
            attempt = min(seen.attempts, len(BACKOFF) - 1)
            retry_at = context.now() + timedelta(seconds=BACKOFF[attempt])
        if write_result(seen, new_state, result, source, retry_at):
            db.session.commit()
            return Step(done=new_state in payout_states.FINAL, retry_at=retry_at)
        db.session.rollback()  # moved since we read it: read it again and decide again
        seen = None
    return Step(done=False, retry_at=context.now())


LATE_SUCCESS = "payout_late_success"


def raise_late_success(seen: Seen, result: RefundResult, source: str) -> bool:
    """The gateway says money moved for a payout held as failed or returned (and perhaps
    paid another way since): record it and tell staff, once per gateway reference, in the
    caller's transaction. The payout's state is left as it is. False if already raised."""
    reference = result.gateway_reference or ""
    # one delivery at a time past this point: a concurrent one waits, then finds it raised
    db.session.execute(select(Payout.id).where(Payout.id == seen.id).with_for_update())
    raised = db.session.scalars(
        select(Event.data).where(Event.payout_id == seen.id, Event.kind == LATE_SUCCESS)
    ).all()
    if any((data or {}).get("reference", "") == reference for data in raised):
        return False
    case = _case_row(seen.case_id)
    record(
        LATE_SUCCESS,
        SYSTEM,
        case=case,
        payout_id=seen.id,
        frm=seen.state,
        data={"source": source, "reference": reference, **gateway_words(result)},
        note=result.note,
    )
    notices.add(
        case,
        notices.STAFF,
        "possible_double_payment",
        notices.POSSIBLE_DOUBLE_PAYMENT,
        case_no=case.case_no,
    )
    return True


def write_result(
    seen: Seen, new_state: PayoutState, result: RefundResult, source: str, retry_at: datetime | None
) -> bool:
    """Write the payout's new state, its ledger entries, events and the case's transition,
    in the caller's transaction (no commit). False, with nothing written, when the payout
    is no longer in ``seen.state``."""
    case = _case_row(seen.case_id)
    moved = move_payout(
        seen.id,
        seen.state,
        new_state,
        SYSTEM,
        case=case,
        data={"source": source, "reference": result.gateway_reference, **gateway_words(result)},
        note=result.note,
        attempts=seen.attempts + 1,
        gateway_reference=result.gateway_reference or seen.gateway_reference,
        last_code=result.code,
        last_message=result.message[:2000],
        last_raw=_jsonable(result.raw),
        next_attempt_at=retry_at,
        settled_at=context.now() if new_state == PayoutState.SUCCEEDED else seen.settled_at,
    )
    if not moved:
        return False
    if new_state in payout_states.MONEY_MOVED:
        ledger.record_payout(
            seen.id,
            case.merchant_id,
            case.order_id,
            seen.channel,
            seen.amount_fen,
            back=new_state == PayoutState.RETURNED,
        )
    failed = {"payout_id": seen.id, **gateway_words(result)}
    if new_state == PayoutState.SUCCEEDED and case.state == State.REFUNDING:
        transition(case, State.REFUNDED, SYSTEM, data={"payout_id": seen.id})
    elif new_state == PayoutState.FAILED and case.state == State.REFUNDING:
        transition(case, State.PAYOUT_FAILED, SYSTEM, data=failed, note=result.note)
    elif new_state == PayoutState.RETURNED and case.state == State.REFUNDED:
        transition(case, State.PAYOUT_FAILED, SYSTEM, data=failed, note=result.note)
    elif new_state == PayoutState.ABNORMAL:  # the case stays refunding: the money is held
        notices.add(case, notices.BUYER, "payout_abnormal", notices.PAYOUT_ABNORMAL_BUYER)
        notices.add(case, notices.STAFF, "payout_abnormal", notices.PAYOUT_ABNORMAL_STAFF)
    return True


def gateway_words(result: RefundResult) -> dict[str, str]:
    """The gateway's own code and text, as an event keeps them: for staff only, shown as
    the gateway's (never to buyers, never translated)."""
    words = {"code": result.code}
    if result.message:
        words["gateway_message"] = result.message[:2000]
    return words


def apply_notification(channel_id: str, note: Notification) -> str:
    """Apply a verified notification: 'applied', 'duplicate' or a refusal reason."""
    payout = db.session.execute(
        select(Payout.__table__, Payment.gateway_trade_id, Payment.merchant_trade_no)
        .join(Payment, Payment.id == Payout.payment_id)
        .where(Payout.idempotency_key == note.idempotency_key)
    ).first()
    if payout is None or payout.channel != channel_id:
        db.session.rollback()
        return "unknown payout"
    if note.amount_fen is not None and note.amount_fen != payout.amount_fen:
        db.session.rollback()
        return "amount mismatch"
    if note.gateway_trade_id and note.gateway_trade_id not in (
        payout.gateway_trade_id,
        payout.merchant_trade_no,
    ):
        db.session.rollback()
        return "trade mismatch"
    if note.status not in (ResultStatus.SUCCEEDED, ResultStatus.FAILED, ResultStatus.ABNORMAL):
        db.session.rollback()
        return "duplicate"
    apply_result(
        payout.id,
        RefundResult(note.status, note.gateway_reference, raw=note.raw),
        source="notification",
        seen=Seen.of(payout),
    )
    return "duplicate" if payout.state in payout_states.FINAL else "applied"


def _jsonable(raw: object) -> object:
    if raw is None or isinstance(raw, (dict, list, str, int, float, bool)):
        return raw
    return repr(raw)
