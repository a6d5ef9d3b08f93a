"""The bank's day reconciled like a gateway's: its camt.053 statement lines booked on a day
matched against the payouts we sent in the pain.001 batch due that day, so that a transfer
left out, another amount booked, a booking on the next day, a transfer booked twice and one
never sent are each the difference any other channel reports; a day whose statement has not
come is missing (not a list of differences), and the statement that comes late reconciles it.
Settling by statement stays exactly-once throughout."""

from __future__ import annotations

from datetime import timedelta

from refund_portal_bank.simulator import Faults, statement_for
from sqlalchemy import func, select

from jobs import reconcile
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import DifferenceState, ResolvedHow, RunStatus
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import LedgerTransaction, Payout, ReconDifference, StatementLine
from portal.plugins.channels import ResultStatus
from portal.plugins.channels import StatementLine as StatementLine_
from portal.services.money import batches
from portal.services.reconciliation import days, fetching, statements
from tests import factories as f
from tests.test_reconciliation_flow import DAY, K, found, reviewer  # noqa: F401 (a fixture)
from tests.test_settlement import approved_case, work

CARD = {"account_name": "张三", "account_no": "6222020200112233445", "bank_name": "工商银行"}
NEXT = DAY + timedelta(days=1)


def send(app, clock, reviewer, amounts):  # noqa: F811 (a fixture's value)
    """Bank refunds of these amounts approved, then exported in one pain.001 batch: the
    batch and the refund numbers, in order."""
    for amount in amounts:
        order = f.order(clock(), channel="bank", extra=CARD, amount_fen=amount)
        approved_case(clock, reviewer, order=order)
    work(app)
    batch = batches.export_batch(reviewer, "bank", "pain.001")
    keys = db.session.scalars(
        select(Payout.idempotency_key).where(Payout.id.in_(batch.payout_ids)).order_by(Payout.id)
    ).all()
    return batch, list(keys)


def states():
    db.session.expire_all()
    return dict(db.session.execute(select(Payout.idempotency_key, Payout.state)).all())


def paid_once():
    """Each bank payout's count of ledger payouts (the statement settles once)."""
    return set(
        db.session.scalars(
            select(func.count(LedgerTransaction.id))
            .where(LedgerTransaction.kind == LedgerKind.PAYOUT)
            .group_by(LedgerTransaction.payout_id)
        ).all()
    )


# --- hostile first: a statement not there, a statement out of order -----------------------


def test_a_day_whose_statement_has_not_come_is_missing_not_a_list_of_differences(
    app,
    clock,
    reviewer,  # noqa: F811
):
    batch, _ = send(app, clock, reviewer, [1200, 3400])
    clock.advance(days=1)  # the next morning, no statement imported yet
    outcome = fetching.fetch_and_reconcile("bank", DAY)
    assert outcome.status == RunStatus.MISSING
    run = days.runs_of_day(DAY)["bank"]
    assert (run.status, run.attempts, run.matched_at) == (RunStatus.MISSING, 1, None)
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 0
    # retried with the gateways' backoff, raised at the deadline like theirs
    assert not reconcile.due(run, clock()) and reconcile.due(run, clock() + timedelta(minutes=11))
    assert fetching.fetch_and_reconcile("bank", DAY).status == RunStatus.MISSING  # still none

    # the statement comes late: importing it reconciles its (past) day at once
    batches.import_statement(reviewer, "bank", statement_for(batch.content))
    assert [job.id for job in queue().jobs] == [fetching.job_id("bank", DAY)]
    work(app)
    run, diffs = found("bank", DAY)
    assert (run.status, diffs, run.bill_rows, run.our_rows) == (RunStatus.MATCHED, set(), 2, 2)
    assert days.day(run.id)[0].closed and days.day(run.id)[0].ledger_agrees
    assert set(states().values()) == {PayoutState.SUCCEEDED} and paid_once() == {1}


def test_a_line_whose_booking_date_does_not_read_counts_on_its_import_day(
    app,
    clock,
    reviewer,  # noqa: F811
    monkeypatch,
):
    from refund_portal_bank.channel import BankChannel

    odd = [StatementLine_("X1", 100, ResultStatus.SUCCEEDED, "31/12/2025")]
    monkeypatch.setattr(BankChannel, "reconcile_statement", lambda self, data: odd)
    report = batches.import_statement(reviewer, "bank", b"<statement/>")
    assert report.unmatched == ("X1",) and queue().jobs == []  # no day of it to reconcile
    assert db.session.scalar(select(StatementLine.booked_on)) == ""  # not read as a late day
    clock.advance(days=1)
    fetching.fetch_and_reconcile("bank", DAY)
    assert found("bank", DAY)[1] == {("X1", K.UNKNOWN_AT_GATEWAY)}
    assert not statements.arrived("bank", NEXT)  # "31/..." is no day after it


def test_a_statement_imported_out_of_order_corrects_the_day_matched_without_it(
    app,
    clock,
    reviewer,  # noqa: F811
):
    first, keys = send(app, clock, reviewer, [500, 600])
    clock.advance(days=1)
    second, _ = send(app, clock, reviewer, [700])
    batches.import_statement(reviewer, "bank", statement_for(second.content))  # the day after's
    assert queue().jobs == []  # it books only today: nothing over to reconcile again
    # a later day's statement came, so the day's is taken as come: it booked nothing of ours
    assert fetching.fetch_and_reconcile("bank", DAY).status == RunStatus.MATCHED
    assert found("bank", DAY)[1] == {(no, K.MISSING_FROM_BILL) for no in keys}

    batches.import_statement(reviewer, "bank", statement_for(first.content))  # the lost one
    work(app)
    run, diffs = found("bank", DAY)
    assert diffs == {(no, K.MISSING_FROM_BILL) for no in keys}  # kept, resolved as gone
    rows = db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run.id))
    assert {(d.state, d.resolved_how) for d in rows} == {
        (DifferenceState.RESOLVED, ResolvedHow.GONE)
    }
    assert days.day(run.id)[0].closed and paid_once() == {1}


def test_a_day_with_nothing_sent_and_no_statement_is_matched_empty(
    app,
    clock,
    reviewer,  # noqa: F811
):
    clock.advance(days=1)
    outcome = fetching.fetch_and_reconcile("bank", DAY)
    assert outcome.status == RunStatus.MATCHED and found("bank", DAY)[1] == set()


# --- each fault, reported as on every other channel ---------------------------------------


def test_each_fault_of_the_bank_is_the_difference_any_channel_reports(
    app,
    clock,
    reviewer,  # noqa: F811
):
    batch, keys = send(app, clock, reviewer, [1000, 1100, 1200, 1300, 1400, 1500])
    assert f"<ReqdExctnDt>{DAY.isoformat()}</ReqdExctnDt>".encode() in batch.content
    dropped, changed, moved, twice = keys[:4]
    faults = Faults(
        dropped=[dropped],
        changed={changed: 5},
        next_day=[moved],
        twice=[twice],
        strangers={"NEVER-SENT-1": 999},
    )
    statement = statement_for(batch.content, faults=faults)
    for _ in range(2):  # imported twice: each entry kept once, each payout settled once
        batches.import_statement(reviewer, "bank", statement)
    assert db.session.scalar(select(func.count(StatementLine.id))) == 7
    assert states() == {
        **dict.fromkeys(keys, PayoutState.SUCCEEDED),
        dropped: PayoutState.PENDING,
        changed: PayoutState.PENDING,  # booked with another amount: not settled by it
    }
    assert paid_once() == {1}

    clock.advance(days=1)
    assert fetching.fetch_and_reconcile("bank", DAY).status == RunStatus.MATCHED
    run, diffs = found("bank", DAY)
    assert diffs == {
        (dropped, K.MISSING_FROM_BILL),
        (changed, K.AMOUNT_DIFFERS),
        (moved, K.MISSING_FROM_BILL),
        (twice, K.DUPLICATE),
        ("NEVER-SENT-1", K.UNKNOWN_AT_GATEWAY),
    }
    rows = {
        d.refund_no: d
        for d in db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run.id))
    }
    assert (rows[changed].bill_amount_fen, rows[changed].our_amount_fen) == (1105, 1100)
    assert rows[changed].our_state == PayoutState.PENDING
    assert (rows[twice].bill_count, rows["NEVER-SENT-1"].payout_id) == (2, None)
    assert (run.our_rows, run.our_total_fen) == (6, sum(range(1000, 1600, 100)))
    assert (run.bill_rows, run.bill_total_fen) == (6, 1105 + 1300 * 2 + 1400 + 1500 + 999)
    # the ledger paid out what the statement settled of the day's batch: not the two unpaid
    assert run.ledger_total_fen == run.our_total_fen - 1000 - 1100
    assert fetching.fetch_and_reconcile("bank", DAY).new_differences == ()  # again: no copy

    assert fetching.fetch_and_reconcile("bank", NEXT).status == RunStatus.MATCHED
    run, diffs = found("bank", NEXT)
    assert diffs == {(moved, K.DIFFERENT_DAY)} and (run.bill_rows, run.our_rows) == (1, 0)


def test_a_clean_bank_day_is_reported_clean(
    app,
    clock,
    reviewer,  # noqa: F811
):
    batch, _ = send(app, clock, reviewer, [800, 900, 1000])
    batches.import_statement(reviewer, "bank", statement_for(batch.content))
    clock.advance(days=1)
    fetching.fetch_and_reconcile("bank", DAY)
    run, diffs = found("bank", DAY)
    day = days.day(run.id)[0]
    assert (run.status, diffs, day.closed, day.ledger_agrees) == (
        RunStatus.MATCHED,
        set(),
        True,
        True,
    )
    assert (run.bill_rows, run.our_rows, run.bill_total_fen) == (3, 3, 2700)
