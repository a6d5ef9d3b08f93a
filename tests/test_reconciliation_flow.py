"""Daily reconciliation end to end: refunds paid through the Alipay and WeChat Pay simulators
over real HTTP, the nightly sweep and job fetching each gateway's own bill, faults injected
into each bill found and nothing else, a damaged or missing bill refused or retried with
nothing recorded as reconciled, and the operator page (list, day, resolve form with CSRF,
CSV export) for staff only."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from refund_portal_alipay.simulator import AlipaySimulator
from refund_portal_wechat.simulator import WechatSimulator
from sqlalchemy import func, select

from jobs import reconcile
from portal.domain.payout_states import PayoutState
from portal.domain.reconciliation import DifferenceKind, DifferenceState, RunStatus
from portal.domain.states import Role
from portal.extensions import db
from portal.models import (
    Event,
    Notice,
    Payment,
    Payout,
    ReconDifference,
    ReconRun,
)
from portal.services.actors import Actor
from portal.services.reconciliation import days, fetching
from tests import factories as f
from tests.test_settlement import approved_case, work

DAY = date(2026, 3, 10)  # the clock fixture: 2026-03-10 10:00 in Beijing
K = DifferenceKind


@pytest.fixture
def gateways(app, tmp_path, clock):
    keys = tmp_path / "keys"
    with AlipaySimulator(keys, hang_s=3, late_s=0.2) as alipay:
        wechat = WechatSimulator(str(keys), hang_s=3).start()
        try:
            alipay.set_clock(clock)
            wechat.set_clock(lambda: clock().timestamp())
            app.config.update(
                DEV_KEYS_DIR=str(keys),
                ALIPAY_GATEWAY_URL=alipay.url,
                ALIPAY_TIMEOUT=2,
                WECHAT_GATEWAY_URL=wechat.url,
                WECHAT_TIMEOUT=2,
            )
            from portal.plugins.startup import init_plugins  # cycle: the app fixture first

            init_plugins(app)
            yield {"alipay": alipay, "wechat": wechat}
        finally:
            wechat.stop()


@pytest.fixture
def reviewer(app):
    return Actor(Role.REVIEWER, f.staff("recon-rev").id, "R")


def pay(app, clock, reviewer, sims, channel, amount_fen=1000):
    """One refund paid through the channel's simulator; its refund number."""
    order = f.order(clock(), channel=channel, amount_fen=amount_fen)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    if channel == "alipay":
        sims["alipay"].add_trade(payment.gateway_trade_id, payment.merchant_trade_no, amount_fen)
    else:
        sims["wechat"].add_trade(payment.gateway_trade_id, payment.merchant_trade_no, amount_fen)
    case = approved_case(clock, reviewer, order=order)
    work(app)
    payout = db.session.scalar(select(Payout).where(Payout.case_id == case.id))
    assert payout.state == PayoutState.SUCCEEDED, (payout.last_code, payout.last_message)
    return payout.idempotency_key


def found(channel, day):
    db.session.expire_all()
    run = db.session.scalar(
        select(ReconRun).where(ReconRun.channel == channel, ReconRun.bill_date == day)
    )
    rows = db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run.id))
    return run, {(d.refund_no, d.kind) for d in rows}


def login(browser, role="supervisor"):
    username = f"recon-{role}"
    slug = f.merchant().slug if role == "merchant" else None
    f.staff(username, role, slug)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code in (302, 303)


# --- hostile: bills that cannot be trusted, bills not there -------------------------------


@pytest.mark.parametrize(
    ("channel", "fault"),
    [
        ("alipay", "bill_bad_zip"),
        ("alipay", "bill_wrong_encoding"),
        ("alipay", "bill_other_day"),
        ("wechat", "bill_bad_hash"),
        ("wechat", "bill_bad_gzip"),
        ("wechat", "bill_other_day"),
    ],
)
def test_a_damaged_bill_is_refused_and_nothing_is_reconciled(
    app, clock, reviewer, gateways, browser, channel, fault
):
    pay(app, clock, reviewer, gateways, channel)
    gateways[channel].misbehave(fault)
    outcome = fetching.fetch_and_reconcile(channel, DAY)
    assert outcome.status == RunStatus.REFUSED
    run = db.session.get(ReconRun, outcome.run_id)
    assert run.matched_at is None and run.bill_rows == 0 and run.detail
    assert db.session.scalar(select(func.count(ReconDifference.id))) == 0
    login(browser)
    page = html.unescape(browser.get(f"/review/reconciliation/{run.id}").get_data(as_text=True))
    assert "Bill refused" in page and run.detail in page
    assert "Nothing of this day is reconciled yet." in page


def test_a_missing_bill_is_retried_with_backoff_by_the_sweep(app, clock, reviewer, gateways):
    clock.advance(days=1)  # 2026-03-11 10:00: yesterday's bills are due
    gateways["alipay"].misbehave("bill_missing")
    gateways["wechat"].misbehave("bill_missing")
    assert reconcile.sweep_reconciliation() == 3  # alipay, wechat and the bank
    assert reconcile.sweep_reconciliation() == 0  # one waiting copy per channel and day
    work(app)
    assert days.runs_of_day(DAY)["bank"].status == RunStatus.MATCHED  # no statement: empty
    for channel in ("alipay", "wechat"):
        run = days.runs_of_day(DAY)[channel]
        assert (run.status, run.attempts) == (RunStatus.MISSING, 1)
    assert reconcile.sweep_reconciliation() == 0  # backing off
    clock.advance(minutes=11)
    assert reconcile.sweep_reconciliation() == 2
    work(app)
    runs = days.runs_of_day(DAY)
    assert {c: (r.status, r.attempts) for c, r in runs.items()} == {
        "alipay": (RunStatus.MATCHED, 2),
        "wechat": (RunStatus.MATCHED, 2),
        "bank": (RunStatus.MATCHED, 1),
    }
    assert reconcile.sweep_reconciliation() == 0  # done: left to the operators


def test_before_the_hour_nothing_is_fetched(app, clock, gateways):
    clock.advance(hours=-3)  # 07:00 in Beijing
    assert reconcile.sweep_reconciliation() == 0


# --- every fault found, nothing else --------------------------------------------------------


def test_every_fault_on_each_channel_is_found_and_nothing_else(app, clock, reviewer, gateways):
    keys = {}
    for channel in ("alipay", "wechat"):
        paid = [pay(app, clock, reviewer, gateways, channel, 1000 + i) for i in range(7)]
        ok, dropped, changed, moved, twice = paid[0], paid[1], paid[2], paid[3], paid[4]
        sim = gateways[channel]
        sim.bill_drop(dropped)
        sim.bill_amount(changed, 1)
        sim.bill_next_day(moved)
        sim.bill_twice(twice)
        at = clock() + timedelta(minutes=5)
        sim.bill_extra(f"{channel}-STRANGER", 777, at if channel == "alipay" else at.timestamp())
        keys[channel] = (ok, dropped, changed, moved, twice)
    clock.advance(days=1)
    assert reconcile.sweep_reconciliation() == 3
    work(app)
    for channel, (_ok, dropped, changed, moved, twice) in keys.items():
        run, diffs = found(channel, DAY)
        assert run.status == RunStatus.MATCHED
        assert diffs == {
            (dropped, K.MISSING_FROM_BILL),
            (changed, K.AMOUNT_DIFFERS),
            (moved, K.MISSING_FROM_BILL),
            (twice, K.DUPLICATE),
            (f"{channel}-STRANGER", K.UNKNOWN_AT_GATEWAY),
        }
        assert run.our_rows == 7
    # the next day's bill shows the moved refund: a different day
    clock.advance(days=1)
    for channel, (*_, moved, _twice) in keys.items():
        fetching.fetch_and_reconcile(channel, DAY + timedelta(days=1))
        _run, diffs = found(channel, DAY + timedelta(days=1))
        assert diffs == {(moved, K.DIFFERENT_DAY)}


def test_a_clean_day_is_closed_and_running_it_again_adds_nothing(app, clock, reviewer, gateways):
    for channel in ("alipay", "wechat"):
        for i in range(3):
            pay(app, clock, reviewer, gateways, channel, 500 + i)
    clock.advance(days=1)
    for channel in ("alipay", "wechat"):
        first = fetching.fetch_and_reconcile(channel, DAY)
        again = fetching.fetch_and_reconcile(channel, DAY)
        assert first.status == again.status == RunStatus.MATCHED
        assert first.new_differences == again.new_differences == ()
    assert all(d.closed and d.ledger_agrees for d in days.days())
    assert {d.run.ledger_total_fen for d in days.days()} == {1503}
    assert {(d.run.channel, d.run.bill_rows, d.run.bill_total_fen) for d in days.days()} == {
        ("alipay", 3, 1503),
        ("wechat", 3, 1503),
    }
    assert db.session.scalar(select(func.count(ReconRun.id))) == 2


# --- the operator page ------------------------------------------------------------------------


@pytest.fixture
def open_day(app, clock, reviewer, gateways):
    key = pay(app, clock, reviewer, gateways, "alipay", 1234)
    gateways["alipay"].bill_amount(key, 1230)
    gateways["alipay"].bill_extra("=HYPERLINK(1)", 5, clock() + timedelta(minutes=1))
    clock.advance(days=1)
    outcome = fetching.fetch_and_reconcile("alipay", DAY)
    return outcome.run_id, key


@pytest.mark.parametrize("role", [None, "merchant"])
def test_only_staff_see_the_page(client, browser, open_day, role):
    run_id, _key = open_day
    if role:
        login(browser, role)
    for url in ("/review/reconciliation/", f"/review/reconciliation/{run_id}"):
        r = client.get(url)
        assert r.status_code in (302, 403) if role is None else r.status_code == 403
    r = client.get(f"/review/reconciliation/{run_id}.csv")
    assert r.status_code in (302, 403)


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "This field is required."),
        ("   ", "This field is required."),
        ("x" * 2001, "2000"),
        ("bad\x00note", "control character"),
    ],
)
def test_resolving_without_a_usable_note_is_refused(client, browser, open_day, note, message):
    run_id, _key = open_day
    login(browser)
    diff = db.session.scalar(select(ReconDifference).where(ReconDifference.run_id == run_id))
    page = f"/review/reconciliation/{run_id}"
    r = browser.submit(
        page, f"/review/reconciliation/differences/{diff.id}/resolve", {"note": note}
    )
    assert r.status_code == 303
    assert message in client.get(page).get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(ReconDifference, diff.id).state == DifferenceState.OPEN


def test_a_form_without_its_token_or_for_no_difference_changes_nothing(client, browser, open_day):
    run_id, _key = open_day
    login(browser)
    diff = db.session.scalar(select(ReconDifference).where(ReconDifference.run_id == run_id))
    r = client.post(f"/review/reconciliation/differences/{diff.id}/resolve", data={"note": "x"})
    assert r.status_code in (303, 400)
    page = f"/review/reconciliation/{run_id}"
    missing = "/review/reconciliation/differences/99999/resolve"
    assert browser.submit(page, missing, {"note": "x"}).status_code == 404
    assert client.get("/review/reconciliation/99999").status_code == 404
    db.session.expire_all()
    assert db.session.get(ReconDifference, diff.id).state == DifferenceState.OPEN


def test_staff_resolve_each_difference_and_the_day_closes(client, browser, open_day):
    run_id, key = open_day
    login(browser)
    index = client.get("/review/reconciliation/").get_data(as_text=True)
    assert f"/review/reconciliation/{run_id}" in index and "0 / 2" not in index
    page = f"/review/reconciliation/{run_id}"
    html = client.get(page).get_data(as_text=True)
    assert key in html and "Amounts differ" in html and "12.34" in html and "12.30" in html
    for diff in db.session.scalars(
        select(ReconDifference).where(ReconDifference.run_id == run_id)
    ).all():
        r = browser.submit(
            page,
            f"/review/reconciliation/differences/{diff.id}/resolve",
            {"note": f"checked with finance: {diff.refund_no}"},
        )
        assert r.status_code == 303
    db.session.expire_all()
    assert days.days()[0].closed
    html = client.get(page).get_data(as_text=True)
    assert "Closed: no open difference" in html and "checked with finance" in html
    events = db.session.scalars(select(Event).where(Event.kind == "recon_resolved")).all()
    assert len(events) == 2 and all(
        e.actor_label == "recon-supervisor" or e.actor_id for e in events
    )


def test_the_csv_export_names_every_difference_and_defuses_formulas(client, browser, open_day):
    run_id, key = open_day
    login(browser)
    r = client.get(f"/review/reconciliation/{run_id}.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    text = r.get_data(as_text=True)
    assert text.startswith("\ufeffPayment route,Bill date,Difference")
    assert key in text and "12.30" in text and "12.34" in text
    assert "'=HYPERLINK(1)" in text and ",=HYPERLINK" not in text
    zh = client.get(f"/review/reconciliation/{run_id}.csv", headers={"Accept-Language": "zh-CN"})
    assert "金额不一致" in zh.get_data(as_text=True)


@pytest.mark.parametrize(
    ("channel", "day", "message"),
    [
        ("alipay", "2026-03-11", "before today"),  # today (Beijing) has no bill yet
        ("alipay", "2025-01-01", "choose a later date"),
        ("alipay", "not-a-date", "YYYY-MM-DD"),
        ("fakepay", "2026-03-09", "publishes no bill"),
        ("nosuch", "2026-03-09", "publishes no bill"),
    ],
)
def test_fetching_a_day_that_has_no_bill_is_refused(
    client, browser, open_day, channel, day, message
):
    login(browser)
    r = browser.submit(
        "/review/reconciliation/",
        "/review/reconciliation/fetch",
        {"channel": channel, "day": day},
    )
    assert r.status_code == 303
    assert message in client.get("/review/reconciliation/").get_data(as_text=True)


def test_fetching_a_past_day_on_demand_runs_the_job(app, client, browser, open_day, gateways):
    login(browser)
    r = browser.submit(
        "/review/reconciliation/",
        "/review/reconciliation/fetch",
        {"channel": "wechat", "day": "2026-03-10"},
    )
    assert r.status_code == 303
    work(app)
    assert days.runs_of_day(DAY)["wechat"].status == RunStatus.MATCHED


# --- alerts -----------------------------------------------------------------------------------


def test_new_differences_are_told_to_staff_once(app, clock, reviewer, gateways):
    key = pay(app, clock, reviewer, gateways, "alipay", 1234)
    gateways["alipay"].bill_drop(key)
    clock.advance(days=1)
    fetching.fetch_and_reconcile("alipay", DAY)
    fetching.fetch_and_reconcile("alipay", DAY)  # the same day again: nothing new to tell
    rows = db.session.scalars(select(Notice).where(Notice.kind == "recon_differences")).all()
    assert [(n.audience, n.params["n"], n.params["day"]) for n in rows] == [
        ("staff", "1", "2026-03-10")
    ]


def test_a_bill_still_missing_at_the_deadline_is_raised_once(app, clock, gateways):
    clock.advance(days=1)
    gateways["alipay"].misbehave("bill_missing", times=50)
    gateways["wechat"].misbehave("bill_missing", times=50)
    reconcile.sweep_reconciliation()
    work(app)
    clock.advance(hours=8)  # 18:00 in Beijing: the deadline
    for _ in range(3):
        reconcile.sweep_reconciliation()
        work(app)
    rows = db.session.scalars(select(Notice).where(Notice.kind == "recon_overdue")).all()
    assert len(rows) == 2 and {n.params["day"] for n in rows} == {"2026-03-10"}
    events = db.session.scalars(select(Event).where(Event.kind == "recon_overdue")).all()
    assert {e.data["channel"] for e in events} == {"alipay", "wechat"}


def test_the_pages_are_chinese_and_small(app, client, browser, clock, reviewer, gateways):
    from tests.test_page_budget import check, crawl
    from tests.test_zh_pages import english_in

    for channel in ("alipay", "wechat"):
        key = pay(app, clock, reviewer, gateways, channel, 800)
        gateways[channel].bill_amount(key, 799)
        gateways[channel].bill_drop(pay(app, clock, reviewer, gateways, channel, 300))
    clock.advance(days=1)
    for channel in ("alipay", "wechat"):
        fetching.fetch_and_reconcile(channel, DAY)
    gateways["alipay"].misbehave("bill_bad_zip")
    fetching.fetch_and_reconcile("alipay", DAY - timedelta(days=1))  # a refused day
    login(browser)
    pages = crawl(client, ["/review/reconciliation/"], "zh-CN")
    days_seen = [url for url in pages if url.rstrip("/").split("/")[-1].isdigit()]
    assert len(days_seen) == 3
    assert {url: english_in(p["html"]) for url, p in pages.items() if english_in(p["html"])} == {}
    assert [p for p in check(pages) if "reconciliation" in p] == []
