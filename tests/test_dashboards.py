"""Dashboards: hostile query parameters first, then the figures (per shop and for the
platform), the SVG chart with its table, the page budget and the statement count."""

from __future__ import annotations

import gzip
import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.domain import charts
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.services.actors import Actor
from portal.services.refunds import cases
from portal.services.reports import dashboard
from tests import factories as f


def test_bars_scale_to_the_largest_value():
    chart = charts.grouped_bars([(4, 2), (0, -3)], width=100, height=40)
    assert chart.top == 4
    heights = [(b.series, b.value, b.h) for b in chart.bars]
    assert heights == [(0, 4, 40), (1, 2, 20), (0, 0, 0), (1, 0, 0)]
    assert all(b.y + b.h == 40 for b in chart.bars)
    assert charts.grouped_bars([]).bars == ()
    assert all(b.h == 0 for b in charts.grouped_bars([(0, 0)]).bars)


def test_percentile_nearest_rank():
    assert charts.percentile([], 50) is None
    assert charts.percentile([5], 90) == 5
    assert charts.percentile(list(range(1, 11)), 50) == 5
    assert charts.percentile(list(range(1, 11)), 90) == 9


def login(browser, username, role="supervisor", shop=None):
    f.staff(username, role, shop)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code == 303


@pytest.mark.parametrize(
    "query",
    [
        "shop=abc",
        "shop=-1",
        "shop=99999999999999999999",
        "weeks=0",
        "weeks=-3",
        "weeks=9999",
        "weeks=1e3",
        "shop=1%27%20OR%201=1",
        "shop=&weeks=",
    ],
)
def test_bad_query_parameters_fall_back_quietly(app, browser, query):
    login(browser, "sup-d")
    r = browser.get(f"/review/dashboard?{query}")
    assert r.status_code == 200
    assert "Traceback" not in r.get_data(as_text=True)


def _world(clock):
    reviewer = Actor(Role.REVIEWER, f.staff("rev-d").id, "R")
    a, b = f.merchant("shop-a"), f.merchant("shop-b")
    db.session.commit()
    made = []
    for week in range(3):
        for _ in range(week + 1):
            c = cases.apply_for_refund(
                f.order(clock(), m=a), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
            )
            made.append(c)
        clock.advance(hours=5)
        cases.approve(made[-1], reviewer)
        clock.advance(days=7)
    other = cases.apply_for_refund(
        f.order(clock(), m=b), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    clock.advance(days=5)
    cases.reject(other, reviewer, "used")
    return a, b


def test_figures_per_shop_and_for_the_platform(app, clock):
    a, b = _world(clock)
    shop_a = dashboard.build(a.id, 8)
    assert shop_a.filed == 6 and shop_a.refunded == 3 and shop_a.orders == 6
    assert shop_a.refund_rate_pct == 50
    assert [w.filed for w in shop_a.weeks][-4:] == [1, 2, 3, 0]
    assert shop_a.review_p50_minutes == 300 and shop_a.within_target_pct == 100
    assert shop_a.levels  # every case was assessed when filed
    everyone = dashboard.build(None, 8)
    assert everyone.filed == 7 and everyone.decided == 4
    assert everyone.within_target_pct == 75  # the rejection took five days
    assert everyone.review_p90_minutes == 5 * 24 * 60
    shop_b = dashboard.build(b.id, 8)
    assert shop_b.filed == 1 and sum(w.rejected for w in shop_b.weeks) == 1


def test_pages_show_the_chart_and_its_table_within_budget(app, browser, clock):
    a, _ = _world(clock)
    login(browser, "sup-p")
    r = browser.get("/review/dashboard?weeks=26")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<svg" in html and "<rect" in html and "<table" in html
    assert "<script" not in html.split("</header>", 1)[-1].split("<footer", 1)[0]
    print("dashboard gzip", len(gzip.compress(r.get_data())))
    assert len(gzip.compress(r.get_data())) < 14 * 1024
    shown = browser.get(f"/review/dashboard?shop={a.id}").get_data(as_text=True)
    assert re.search(rf'<option value="{a.id}"[^>]* selected', shown)


def test_a_control_character_in_the_query_is_refused_clearly(app, browser):
    login(browser, "sup-z")
    r = browser.get("/review/dashboard?weeks=%00")
    assert r.status_code == 400 and "Traceback" not in r.get_data(as_text=True)


def test_a_merchant_sees_only_its_own_shop(app, browser, clock):
    a, b = _world(clock)
    login(browser, "shop-b-staff", "merchant", "shop-b")
    html = browser.get("/merchant/dashboard").get_data(as_text=True)
    assert "<svg" in html
    # shop b: one case, rejected, no refunds (shop a's six cases are not counted)
    assert dashboard.build(b.id).filed == 1
    assert browser.get("/review/dashboard").status_code == 403
    assert browser.get(f"/merchant/dashboard?shop={a.id}").status_code == 200  # ignored


def test_statement_count_does_not_grow_with_the_cases(app, clock):
    a, _ = _world(clock)
    shop_id = a.id

    def statements() -> int:
        seen = []
        listener = lambda *args, **kw: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            dashboard.build(shop_id, 8)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for _ in range(20):
        cases.apply_for_refund(
            f.order(clock(), m=a), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
        )
        clock.advance(minutes=30)
    assert statements() == few <= 5
    assert timedelta(weeks=dashboard.MAX_WEEKS)  # the bound pages are held to
