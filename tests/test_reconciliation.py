"""Daily reconciliation's matching and its records: every kind of difference named, nothing
else; a bill for another day refused with nothing recorded; the same day run twice adds no
difference; resolving needs a note and is written to the audit trail; a day closes when no
open difference remains. Real database (SQLite by default, PostgreSQL by PORTAL_DATABASE_URL).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import (
    DifferenceKind,
    DifferenceState,
    ResolvedHow,
    RunStatus,
    day_bounds,
)
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, Payment, Payout, ReconDifference, ReconRun, RefundCase
from portal.plugins.channels import BillRefused, BillRow
from portal.services.actors import Actor
from portal.services.errors import Conflict, DomainError, NotFound
from portal.services.reconciliation import days, fetching, matching, resolving
from tests import factories as f

DAY = date(2026, 3, 9)
START, _END = day_bounds(DAY)  # 2026-03-08 16:00 UTC
NOON = START + timedelta(hours=12)
CH = "fakepay"


def payout(clock, key, amount=1000, settled_at=NOON, state=PayoutState.SUCCEEDED, channel=CH):
    order = f.order(clock(), channel=channel, amount_fen=max(amount, 100000))
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    case = RefundCase(
        case_no=f"C-{key}",
        order_id=order.id,
        merchant_id=order.merchant_id,
        kind="refund_only",
        reason="not_delivered",
        amount_requested_fen=amount,
        state=State.REFUNDED,
    )
    db.session.add(case)
    db.session.flush()
    row = Payout(
        case_id=case.id,
        order_id=order.id,
        payment_id=payment.id,
        channel=channel,
        idempotency_key=key,
        amount_fen=amount,
        state=state,
        settled_at=settled_at,
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def row(key, amount=1000, at=NOON, ref=None):
    return BillRow(key, ref or f"GW-{key}", amount, at)


def found(run_id):
    db.session.expire_all()
    rows = db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run_id))
    return {(d.refund_no, d.kind, d.state) for d in rows}


@pytest.fixture
def staff(app):
    user = f.staff("recon-sup", "supervisor")
    return Actor(Role.REVIEWER, user.id, "Sup")


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: BillRow("", "r", 1, NOON),
        lambda: BillRow("x" * 65, "r", 1, NOON),
        lambda: BillRow("k", "r", 0, NOON),
        lambda: BillRow("k", "r", -5, NOON),
        lambda: BillRow("k", "r", 1.5, NOON),  # type: ignore[arg-type]
        lambda: BillRow("k", "r", True, NOON),  # type: ignore[arg-type]
        lambda: BillRow("k", "r", 1, datetime(2026, 3, 9, 12)),  # naive
    ],
)
def test_a_bill_row_refuses_what_is_not_a_refund(make):
    with pytest.raises((ValueError, TypeError)):
        make()


def test_a_bill_for_another_day_is_refused_and_nothing_is_recorded(app, clock):
    payout(clock, "R1")
    rows = [row("R1"), row("R2", at=START - timedelta(seconds=1))]  # 23:59:59 the day before
    outcome = matching.reconcile(CH, DAY, rows)
    assert outcome.status == RunStatus.REFUSED
    run = db.session.get(ReconRun, outcome.run_id)
    assert run.status == RunStatus.REFUSED and "R2" in run.detail
    assert run.matched_at is None and run.bill_rows == 0
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 0
    assert not days.days(CH)[0].closed


def test_a_bill_that_breaks_part_way_writes_no_difference(app, clock):
    payout(clock, "R1")

    def rows():
        yield row("UNKNOWN")
        raise ValueError("damaged line 2")

    with pytest.raises(ValueError):
        matching.reconcile(CH, DAY, rows())
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 0


def test_a_refused_rerun_keeps_the_differences_already_found(app, clock):
    payout(clock, "R1")
    first = matching.reconcile(CH, DAY, [])
    assert found(first.run_id) == {("R1", "missing_from_bill", "open")}
    again = matching.reconcile(CH, DAY, [row("R1", at=NOON + timedelta(days=1))])
    assert again.status == RunStatus.REFUSED and again.run_id == first.run_id
    assert found(first.run_id) == {("R1", "missing_from_bill", "open")}
    assert not days.days(CH)[0].closed


@pytest.mark.parametrize("note", ["", "   ", "x" * 2001, "bad\x00note", "bell\x07"])
def test_resolving_needs_a_note_that_can_be_kept(app, clock, staff, note):
    payout(clock, "R1")
    outcome = matching.reconcile(CH, DAY, [])
    (diff_id,) = outcome.new_differences
    with pytest.raises(DomainError):
        resolving.resolve(diff_id, staff, note)
    assert found(outcome.run_id) == {("R1", "missing_from_bill", "open")}


def test_resolving_twice_or_a_missing_difference_is_refused(app, clock, staff):
    payout(clock, "R1")
    (diff_id,) = matching.reconcile(CH, DAY, []).new_differences
    resolving.resolve(diff_id, staff, "bank confirmed the refund by phone")
    with pytest.raises(Conflict):
        resolving.resolve(diff_id, staff, "again")
    with pytest.raises(NotFound):
        resolving.resolve(diff_id + 999, staff, "nothing there")
    events = db.session.scalars(select(Event).where(Event.kind == "recon_resolved")).all()
    assert len(events) == 1


# --- matching ---------------------------------------------------------------------------------


def test_a_clean_day_is_closed_with_its_totals(app, clock):
    payout(clock, "R1", 1000)
    payout(clock, "R2", 2550, settled_at=START)  # the first second of the Beijing day
    outcome = matching.reconcile(CH, DAY, [row("R1", 1000), row("R2", 2550, at=START)])
    assert outcome.status == RunStatus.MATCHED and outcome.new_differences == ()
    (day,) = days.days(CH)
    assert day.closed and day.open == 0
    assert (day.run.bill_rows, day.run.bill_total_fen) == (2, 3550)
    assert (day.run.our_rows, day.run.our_total_fen) == (2, 3550)
    assert day.run.ledger_total_fen == 0 and not day.ledger_agrees  # no ledger entries made


def test_every_kind_of_difference_is_named_and_nothing_else(app, clock):
    payout(clock, "OK", 1000)
    payout(clock, "MISSING", 1200)
    payout(clock, "AMOUNT", 1300)
    payout(clock, "DUP", 1400)
    payout(clock, "EARLIER", 1500, settled_at=START - timedelta(minutes=1))  # the day before
    payout(clock, "FAILED", 1600, state=PayoutState.FAILED)  # we hold it as not paid
    payout(clock, "OTHERCH", 1700, channel="otherpay")  # another channel's refund
    bill = [
        row("OK", 1000),
        row("AMOUNT", 1301),
        row("DUP", 1400),
        row("DUP", 1400, ref="GW-DUP-2"),
        row("EARLIER", 1500, at=START + timedelta(seconds=30)),
        row("FAILED", 1600),
        row("OTHERCH", 1700),
        row("STRANGER", 999),
    ]
    outcome = matching.reconcile(CH, DAY, bill)
    assert found(outcome.run_id) == {
        ("MISSING", DifferenceKind.MISSING_FROM_BILL, DifferenceState.OPEN),
        ("AMOUNT", DifferenceKind.AMOUNT_DIFFERS, DifferenceState.OPEN),
        ("DUP", DifferenceKind.DUPLICATE, DifferenceState.OPEN),
        ("EARLIER", DifferenceKind.DIFFERENT_DAY, DifferenceState.OPEN),
        ("FAILED", DifferenceKind.UNKNOWN_AT_GATEWAY, DifferenceState.OPEN),
        ("OTHERCH", DifferenceKind.UNKNOWN_AT_GATEWAY, DifferenceState.OPEN),
        ("STRANGER", DifferenceKind.UNKNOWN_AT_GATEWAY, DifferenceState.OPEN),
    }
    by_no = {
        d.refund_no: d
        for d in db.session.scalars(
            select(ReconDifference).where(ReconDifference.run_id == outcome.run_id)
        )
    }
    assert (by_no["AMOUNT"].bill_amount_fen, by_no["AMOUNT"].our_amount_fen) == (1301, 1300)
    assert by_no["DUP"].bill_count == 2
    assert by_no["FAILED"].our_state == PayoutState.FAILED and by_no["FAILED"].payout_id
    assert by_no["OTHERCH"].payout_id is None
    assert by_no["MISSING"].bill_amount_fen is None and by_no["MISSING"].our_amount_fen == 1200
    assert by_no["EARLIER"].our_at < START <= by_no["EARLIER"].bill_at
    run = db.session.get(ReconRun, outcome.run_id)
    assert run.bill_rows == 8 and run.our_rows == 4  # OK, MISSING, AMOUNT, DUP
    found_events = db.session.scalar(
        select(func.count(Event.id)).where(Event.kind == "recon_found")
    )
    assert found_events == 7


def test_running_the_same_day_again_adds_no_difference(app, clock, staff):
    payout(clock, "MISSING", 1200)
    payout(clock, "AMOUNT", 1300)
    bill = [row("AMOUNT", 1301), row("STRANGER", 5)]
    first = matching.reconcile(CH, DAY, bill)
    assert len(first.new_differences) == 3
    amount_diff = next(
        d.id
        for d in db.session.scalars(select(ReconDifference))
        if d.kind == DifferenceKind.AMOUNT_DIFFERS
    )
    resolving.resolve(amount_diff, staff, "gateway fee, agreed with finance")
    second = matching.reconcile(CH, DAY, bill)
    assert second.run_id == first.run_id and second.new_differences == ()
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 3
    assert db.session.scalar(select(func.count(ReconRun.id))) == 1
    diff = db.session.get(ReconDifference, amount_diff)
    assert diff.state == DifferenceState.RESOLVED  # a resolved one stays resolved
    assert second.open_differences == 2


def test_a_difference_no_longer_found_is_resolved_as_gone(app, clock):
    payout(clock, "LATE", 1200)
    first = matching.reconcile(CH, DAY, [])
    assert found(first.run_id) == {("LATE", "missing_from_bill", "open")}
    again = matching.reconcile(CH, DAY, [row("LATE", 1200)])  # the corrected bill
    assert found(again.run_id) == {("LATE", "missing_from_bill", "resolved")}
    diff = db.session.scalar(select(ReconDifference))
    assert diff.resolved_how == ResolvedHow.GONE and diff.resolved_by_id is None
    assert days.days(CH)[0].closed


def test_resolving_records_who_when_and_why_and_closes_the_day(app, clock, staff):
    payout(clock, "R1", 1200)
    outcome = matching.reconcile(CH, DAY, [])
    (diff_id,) = outcome.new_differences
    assert not days.days(CH)[0].closed
    resolving.resolve(diff_id, staff, "  refunded by hand at the counter  ")
    diff = db.session.get(ReconDifference, diff_id)
    assert diff.state == DifferenceState.RESOLVED
    assert (diff.resolved_by_id, diff.resolved_by) == (staff.user_id, "Sup")
    assert diff.resolution_note == "refunded by hand at the counter"
    assert diff.resolved_at == clock()
    event = db.session.scalar(select(Event).where(Event.kind == "recon_resolved"))
    assert event.actor_id == staff.user_id and event.reason == diff.resolution_note
    assert event.payout_id == diff.payout_id and event.data["difference_id"] == diff_id
    assert (event.from_state, event.to_state) == ("open", "resolved")
    assert days.days(CH)[0].closed


def test_a_missing_bill_is_noted_and_retried_later(app, clock):
    outcome = matching.record_failure(CH, DAY, RunStatus.MISSING, "bill not ready")
    again = matching.record_failure(CH, DAY, RunStatus.MISSING, "bill not ready")
    assert outcome.run_id == again.run_id
    run = db.session.get(ReconRun, outcome.run_id)
    assert run.status == RunStatus.MISSING and run.attempts == 2
    assert not days.days(CH)[0].closed


def test_a_day_page_shows_the_first_differences_open_ones_first(app, clock, staff, monkeypatch):
    for i in range(5):
        payout(clock, f"M{i}", 1000 + i)
    outcome = matching.reconcile(CH, DAY, [])
    resolving.resolve(min(outcome.new_differences), staff, "checked")
    summary, shown = days.day(outcome.run_id, limit=3)
    assert (summary.open, summary.total) == (4, 5) and len(shown) == 3
    assert all(d.state == DifferenceState.OPEN for d in shown)
    _summary, everything = days.day(outcome.run_id)
    assert len(everything) == 5 and everything[-1].state == DifferenceState.RESOLVED


# --- the bill streamed: read as it comes, nothing of it kept when it breaks -------------------


@pytest.mark.parametrize(
    "number",
    ["\\N", "a\tb", "x\ny", "back\\slash", "'; DROP TABLE payouts; --", "全角，号", "\\.", "R1 "],
)
def test_hostile_refund_numbers_come_back_as_the_bill_wrote_them(app, clock, number):
    payout(clock, "R1")
    outcome = matching.reconcile(CH, DAY, [row("R1"), row(number, 5, ref=number + "\r\n")])
    assert found(outcome.run_id) == {(number, "unknown_at_gateway", "open")}
    diff = db.session.scalar(select(ReconDifference))
    assert (diff.gateway_reference, diff.bill_amount_fen) == (number + "\r\n", 5)
    assert db.session.get(ReconRun, outcome.run_id).bill_rows == 2


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (BillRefused("row 3 has 4 fields, not 20"), RunStatus.REFUSED),
        (ValueError("amount 'abc' is not money"), RunStatus.REFUSED),
        (ConnectionResetError("the download broke off"), RunStatus.MISSING),
    ],
)
def test_a_bill_that_breaks_while_it_streams_is_noted_and_nothing_is_kept(
    app, clock, error, status
):
    payout(clock, "R1")

    def rows():
        yield row("R1")
        yield row("STRANGER", 5)
        raise error

    outcome = fetching.reconcile_fetched(CH, DAY, rows())
    assert outcome.status == status
    run = db.session.get(ReconRun, outcome.run_id)
    assert run.matched_at is None and run.bill_rows == 0 and str(error) in run.detail
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 0


def test_the_database_failing_is_not_taken_for_a_missing_bill(app, clock, monkeypatch):
    from portal.services.reconciliation import staged

    def broken(channel_id, day, basis):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(staged, "candidates", broken)
    with pytest.raises(RuntimeError, match="went away"):
        fetching.reconcile_fetched(CH, DAY, [row("R1")])
    assert db.session.scalar(select(func.count(ReconRun.id))) == 0


def test_a_bill_larger_than_a_batch_is_matched_whole(app, clock, monkeypatch):
    from portal.services.reconciliation import staged

    monkeypatch.setattr(staged, "BATCH", 7)  # SQLite inserts in batches; PostgreSQL copies
    payout(clock, "R1", 1000)
    bill = (row(f"X{i}", 10 + i) for i in range(40))  # a generator: read once, as it comes
    outcome = matching.reconcile(CH, DAY, bill)
    run = db.session.get(ReconRun, outcome.run_id)
    assert (run.bill_rows, run.bill_total_fen) == (40, sum(10 + i for i in range(40)))
    assert len(found(outcome.run_id)) == 41  # 40 strangers, R1 missing
