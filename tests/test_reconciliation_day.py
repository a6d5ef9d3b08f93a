"""A day of 1,000 refunds reconciled end to end: paid through the Alipay and WeChat Pay
simulators over real HTTP and by the bank (a pain.001 batch, its camt.053 statement
imported), the same faults put into each channel's bill (a row dropped, a row added for a
refund never sent, an amount changed, a row moved to the next day, a row twice), the nightly
sweep and job fetching and matching every bill: each fault is found, as the same kind of
difference on every channel, and nothing else is reported.

The bank's bill is its imported statement, which also settles its payouts: its day is
matched against the payouts we sent in the batch due that day, so a transfer the statement
leaves out is missing from the bill like any other channel's, while the statement still
settles exactly the transfers it booked, each once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from refund_portal_bank.simulator import Faults, statement_for
from sqlalchemy import func, select

from jobs import reconcile
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.payout_states import PayoutState
from portal.domain.policy import Kind, Reason
from portal.domain.reconciliation import DifferenceKind, RunStatus
from portal.domain.states import State
from portal.extensions import db
from portal.models import LedgerTransaction, Payment, Payout, ReconDifference, RefundCase
from portal.services.money import batches
from portal.services.money.payouts import start_payout
from portal.services.reconciliation import days
from tests import factories as f
from tests.test_reconciliation_flow import DAY, gateways, reviewer  # noqa: F401 (fixtures)
from tests.test_settlement import work

K = DifferenceKind
#: refunds paid per channel on the day: 1,000 in all
REFUNDS = {"alipay": 400, "wechat": 400, "bank": 200}
#: how many of each fault each channel's bill carries
EACH = 3
CARD = {"account_name": "张三", "account_no": "6222020200112233445", "bank_name": "工商银行"}


def pay_all(app, clock, sims, reviewer, channel, n):  # noqa: F811 (a fixture's value)
    """``n`` refunds on the channel: orders paid there (and known to its simulator), each
    with an approved case whose payout the product starts and its worker settles (the
    bank's: pending, for the batch file); our refund numbers, in order. (The cases are made
    approved directly: applying and reviewing are not what is tested here.)"""
    shop = f.merchant()
    product = f.product(shop, price_fen=1000)
    for i in range(n):
        extra = {"extra": CARD} if channel == "bank" else {}
        order = f.order(clock(), m=shop, p=product, channel=channel, amount_fen=1000 + i, **extra)
        if channel != "bank":
            payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
            sims[channel].add_trade(payment.gateway_trade_id, payment.merchant_trade_no, 1000 + i)
        case = RefundCase(
            case_no=f"DAY-{order.id}",
            order_id=order.id,
            merchant_id=order.merchant_id,
            kind=Kind.REFUND_ONLY,
            reason=Reason.UNUSABLE,
            amount_requested_fen=order.amount_fen,
            amount_approved_fen=order.amount_fen,
            state=State.APPROVED,
        )
        db.session.add(case)
        db.session.flush()
        start_payout(case, reviewer, order.amount_fen)
        db.session.commit()
    work(app)
    payouts = db.session.scalars(
        select(Payout).where(Payout.channel == channel).order_by(Payout.id)
    ).all()
    want = PayoutState.PENDING if channel == "bank" else PayoutState.SUCCEEDED
    assert len(payouts) == n and {p.state for p in payouts} == {want}
    return [p.idempotency_key for p in payouts]


def faults(keys):
    """The refund numbers each fault is put on: ``EACH`` of each, spread over the day."""
    step = len(keys) // (4 * EACH)
    chosen = [keys[step * i + step // 2] for i in range(4 * EACH)]
    return {name: chosen[n::4] for n, name in enumerate(("dropped", "changed", "moved", "twice"))}


def found(channel, day):
    db.session.expire_all()
    run = days.runs_of_day(day)[channel]
    rows = db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run.id))
    return run, {(d.refund_no, d.kind) for d in rows}


@pytest.mark.slow
@pytest.mark.timeout(900)  # 1,000 refunds over HTTP: 53 s at load 5, 341 s at load 15 (2 cores)
def test_a_day_of_a_thousand_refunds_shows_every_fault_and_nothing_else(
    app,
    clock,
    reviewer,  # noqa: F811
    gateways,  # noqa: F811
):
    put = {}
    for channel in ("alipay", "wechat"):
        keys = pay_all(app, clock, gateways, reviewer, channel, REFUNDS[channel])
        put[channel] = chosen = faults(keys)
        sim = gateways[channel]
        for no in chosen["dropped"]:
            sim.bill_drop(no)
        for no in chosen["changed"]:
            sim.bill_amount(no, 1)
        for no in chosen["moved"]:
            sim.bill_next_day(no)
        for no in chosen["twice"]:
            sim.bill_twice(no)
        chosen["strangers"] = [f"{channel}-STRANGER-{n}" for n in range(EACH)]
        at = clock() + timedelta(minutes=5)
        for no in chosen["strangers"]:
            sim.bill_extra(no, 777, at if channel == "alipay" else at.timestamp())
    keys = pay_all(app, clock, gateways, reviewer, "bank", REFUNDS["bank"])
    put["bank"] = bank = faults(keys)
    bank["strangers"] = [f"BANK-STRANGER-{n}" for n in range(EACH)]
    batch = batches.export_batch(reviewer, "bank", "pain.001")
    assert f"<ReqdExctnDt>{DAY.isoformat()}</ReqdExctnDt>".encode() in batch.content
    statement = statement_for(
        batch.content,
        faults=Faults(
            dropped=bank["dropped"],
            changed=dict.fromkeys(bank["changed"], -1),  # one fen less than we sent
            next_day=bank["moved"],  # booked the day after the batch's execution date
            twice=bank["twice"],
            strangers=dict.fromkeys(bank["strangers"], 777),
        ),
    )
    first = batches.import_statement(reviewer, "bank", statement)
    again = batches.import_statement(reviewer, "bank", statement)  # imported twice: settles once
    booked_once = REFUNDS["bank"] - 2 * EACH  # all but the dropped and the changed
    assert (first.applied, first.duplicates) == (booked_once, EACH)  # the second bookings
    assert (again.applied, again.duplicates) == (0, booked_once + EACH)
    states = dict(
        db.session.execute(
            select(Payout.idempotency_key, Payout.state).where(Payout.channel == "bank")
        ).all()
    )
    unpaid = {*bank["dropped"], *bank["changed"]}  # the amount differs: not ours to settle
    assert states == {
        no: PayoutState.PENDING if no in unpaid else PayoutState.SUCCEEDED for no in keys
    }
    booked = db.session.scalars(
        select(func.count(LedgerTransaction.id))
        .join(Payout, Payout.id == LedgerTransaction.payout_id)
        .where(Payout.channel == "bank", LedgerTransaction.kind == LedgerKind.PAYOUT)
        .group_by(Payout.id)
    ).all()
    assert booked == [1] * booked_once  # each booked payout paid once, the twice ones too

    clock.advance(days=1)  # the next morning: yesterday's bills are due
    assert reconcile.sweep_reconciliation() == 3
    work(app)

    for channel in ("alipay", "wechat", "bank"):
        chosen = put[channel]
        run, diffs = found(channel, DAY)
        assert run.status == RunStatus.MATCHED
        assert diffs == {
            *((no, K.MISSING_FROM_BILL) for no in chosen["dropped"]),
            *((no, K.AMOUNT_DIFFERS) for no in chosen["changed"]),
            *((no, K.MISSING_FROM_BILL) for no in chosen["moved"]),
            *((no, K.DUPLICATE) for no in chosen["twice"]),
            *((no, K.UNKNOWN_AT_GATEWAY) for no in chosen["strangers"]),
        }, channel
        assert run.our_rows == REFUNDS[channel]
        assert run.bill_rows == REFUNDS[channel] - 2 * EACH + EACH + EACH
    changed = db.session.scalars(
        select(ReconDifference).where(ReconDifference.refund_no.in_(bank["changed"]))
    ).all()
    assert {(d.bill_amount_fen - d.our_amount_fen, d.our_state) for d in changed} == {
        (-1, PayoutState.PENDING)
    }

    # the next day's bills: the moved rows show on a different day, on every channel
    clock.advance(days=1)
    assert reconcile.sweep_reconciliation() == 3
    work(app)
    for channel in ("alipay", "wechat", "bank"):
        run, diffs = found(channel, DAY + timedelta(days=1))
        assert diffs == {(no, K.DIFFERENT_DAY) for no in put[channel]["moved"]}, channel
        assert run.bill_rows == EACH
