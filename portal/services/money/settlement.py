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

from sqlalchemy import Row, bindparam, select, update

from portal.domain.states import State
from portal.extensions import db
from portal.models import ChannelSwitch, Order, Payment, Payout, RefundCase
from portal.plugins.channels import (
    Notification,
    RefundRequest,
    RefundResult,
    ResultStatus,
)
from portal.plugins.startup import channels
from portal.services import context
from portal.services.actors import SYSTEM
from portal.services.dml import rows_matched
from portal.services.money import channel_switches, ledger
from portal.services.money.payouts import payment_ref
from portal.services.refunds.transitions import record, transition

#: a payout's state may only move along these edges
FORWARD = {
    "created": {"pending", "unknown", "succeeded", "failed"},
    "unknown": {"pending", "unknown", "succeeded", "failed"},
    "pending": {"pending", "unknown", "succeeded", "failed"},
    "failed": {"created"},  # an operator's retry, same key
    "returned": {"created"},
    "succeeded": {"returned"},  # only from a bank statement: the transfer came back
}
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
    state: str
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
            payout.state,
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


_PAYOUTS = Payout.__table__
_PAYMENTS = Payment.__table__
_CASES = RefundCase.__table__


class Due(NamedTuple):
    """What one settlement step reads: plain values, no ORM objects (see ``load``)."""

    payout: Row
    payment: SimpleNamespace
    case_no: str
    enabled: bool


_DUE = (
    select(
        _PAYOUTS,
        *(c.label(f"pm__{c.name}") for c in _PAYMENTS.c),
        _CASES.c.case_no,
        ChannelSwitch.__table__.c.enabled,
    )
    .join(_PAYMENTS, _PAYMENTS.c.id == _PAYOUTS.c.payment_id)
    .join(_CASES, _CASES.c.id == _PAYOUTS.c.case_id)
    .outerjoin(ChannelSwitch.__table__, ChannelSwitch.__table__.c.channel_id == _PAYOUTS.c.channel)
    .where(_PAYOUTS.c.id == bindparam("payout_id"))
)
# The settlement's statements are built once, here, with their parameters bound at execution:
# building a statement and computing its cache key cost more than running it on SQLite.
_PAYOUT_ROW = select(_PAYOUTS).where(_PAYOUTS.c.id == bindparam("payout_id"))
#: compare-and-set of a payout's state; the SET clause comes from the parameters' column names
_PAYOUT_CAS = update(_PAYOUTS).where(
    _PAYOUTS.c.id == bindparam("cas_id"), _PAYOUTS.c.state == bindparam("cas_state")
)
#: the columns a case's transition reads, and its merchant
_CASE_ROW = (
    select(_CASES, Order.__table__.c.merchant_id)
    .join(Order.__table__, Order.__table__.c.id == _CASES.c.order_id)
    .where(_CASES.c.id == bindparam("case_id"))
)
_NOTIFIED_PAYOUT = (
    select(_PAYOUTS, _PAYMENTS.c.gateway_trade_id, _PAYMENTS.c.merchant_trade_no)
    .join(_PAYMENTS, _PAYMENTS.c.id == _PAYOUTS.c.payment_id)
    .where(_PAYOUTS.c.idempotency_key == bindparam("key"))
)


def load(payout_id: int) -> Due | None:
    """The payout, its payment, its case number and whether its channel is enabled: one query.

    Plain rows rather than ORM objects: a work-horse forked per job pays for every object
    it touches, and the step only needs these values.
    """
    row = db.session.execute(_DUE, {"payout_id": payout_id}).first()
    if row is None:
        return None
    values = row._mapping
    payment = SimpleNamespace(**{c.name: values[f"pm__{c.name}"] for c in _PAYMENTS.c})
    return Due(row, payment, row.case_no, channel_switches.allows(row.enabled))


def read_payout(payout_id: int) -> Row | None:
    """The payout as a plain row: the database's state, whatever the session holds."""
    return db.session.execute(_PAYOUT_ROW, {"payout_id": payout_id}).first()


def settle(payout_id: int) -> Step:
    """One settlement step for a payout; safe to run any number of times."""
    due = load(payout_id)
    if due is None or due.payout.state in ("succeeded", "failed", "returned"):
        db.session.rollback()
        return Step(done=True)
    if not due.enabled:  # held until an operator enables the channel again
        db.session.rollback()
        return Step(done=False, retry_at=context.now() + timedelta(seconds=BACKOFF[3]))
    request = refund_request(due.payout, due.payment, due.case_no)
    seen = Seen.of(due.payout)
    channel = channels().get(seen.channel)
    db.session.rollback()  # hold no transaction (or lock) while talking to the gateway
    if seen.state in ("unknown", "pending"):
        result = channel.query_refund(request)
        if result.status == ResultStatus.PENDING and result.code == "NOT_FOUND":
            result = channel.execute_refund(request)  # never reached the gateway: same key again
    else:
        result = channel.execute_refund(request)
    return apply_result(payout_id, result, source="call", seen=seen)


_STATES = {
    ResultStatus.SUCCEEDED: "succeeded",
    ResultStatus.PENDING: "pending",
    ResultStatus.UNKNOWN: "unknown",
    ResultStatus.FAILED: "failed",
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
        if seen.state == "succeeded" and new_state == "failed" and source == "statement":
            new_state = "returned"
        if new_state not in FORWARD.get(seen.state, set()):
            db.session.rollback()
            return Step(done=seen.state in ("succeeded", "failed"))
        retry_at = None
        if new_state in ("pending", "unknown"):
            attempt = min(seen.attempts, len(BACKOFF) - 1)
            retry_at = context.now() + timedelta(seconds=BACKOFF[attempt])
        if write_result(seen, new_state, result, source, retry_at):
            db.session.commit()
            return Step(done=new_state in ("succeeded", "failed"), retry_at=retry_at)
        db.session.rollback()  # moved since we read it: read it again and decide again
        seen = None
    return Step(done=False, retry_at=context.now())


def write_result(
    seen: Seen, new_state: str, result: RefundResult, source: str, retry_at: datetime | None
) -> bool:
    """Write the payout's new state, its ledger entries, events and the case's transition,
    in the caller's transaction (no commit). False, with nothing written, when the payout
    is no longer in ``seen.state``."""
    now = context.now()
    executed = db.session.execute(
        _PAYOUT_CAS,
        {
            "cas_id": seen.id,
            "cas_state": seen.state,
            "state": new_state,
            "attempts": seen.attempts + 1,
            "gateway_reference": result.gateway_reference or seen.gateway_reference,
            "last_code": result.code,
            "last_message": result.message[:2000],
            "last_raw": _jsonable(result.raw),
            "next_attempt_at": retry_at,
            "settled_at": now if new_state == "succeeded" else seen.settled_at,
        },
    )
    changed = rows_matched(executed)
    if changed != 1:
        return False
    # a plain row: the columns the transition reads, and the merchant
    case = db.session.execute(_CASE_ROW, {"case_id": seen.case_id}).one()
    if new_state in ("succeeded", "returned"):
        ledger.record_payout(
            seen.id,
            case.merchant_id,
            case.order_id,
            seen.channel,
            seen.amount_fen,
            back=new_state == "returned",
        )
    record(
        "payout_" + new_state,
        SYSTEM,
        case=case,
        payout_id=seen.id,
        reason=result.message,
        data={"code": result.code, "source": source, "reference": result.gateway_reference},
    )
    if new_state == "succeeded" and case.state == str(State.REFUNDING):
        transition(case, State.REFUNDED, SYSTEM, data={"payout_id": seen.id})
    elif new_state == "failed" and case.state == str(State.REFUNDING):
        transition(case, State.PAYOUT_FAILED, SYSTEM, result.message, data={"payout_id": seen.id})
    elif new_state == "returned" and case.state == str(State.REFUNDED):
        transition(case, State.PAYOUT_FAILED, SYSTEM, result.message, data={"payout_id": seen.id})
    return True


def apply_notification(channel_id: str, note: Notification) -> str:
    """Apply a verified notification: 'applied', 'duplicate' or a refusal reason."""
    payout = db.session.execute(_NOTIFIED_PAYOUT, {"key": note.idempotency_key}).first()
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
    if note.status not in (ResultStatus.SUCCEEDED, ResultStatus.FAILED):
        db.session.rollback()
        return "duplicate"
    apply_result(
        payout.id,
        RefundResult(note.status, note.gateway_reference, "notification", raw=note.raw),
        source="notification",
        seen=Seen.of(payout),
    )
    return "applied" if payout.state not in ("succeeded", "failed") else "duplicate"


def _jsonable(raw: object) -> object:
    if raw is None or isinstance(raw, (dict, list, str, int, float, bool)):
        return raw
    return repr(raw)
