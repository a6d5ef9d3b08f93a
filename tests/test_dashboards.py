"""Dashboards: hostile query parameters first (bad days, another shop's ids as a merchant),
then the pages (charts with their tables, CSV of every table, the page budget, Chinese only
in zh-CN), the buckets' arithmetic, the open backlog by age and the statement count."""

from __future__ import annotations

import csv
import gzip
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import event

from portal.domain import charts, rollups
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.services.actors import Actor
from portal.services.refunds import cases
from portal.services.reports import backlog as backlogs
from portal.services.reports import dashboard
from portal.services.reports import rollups as rollup_service
from tests import factories as f
from tests.test_zh_pages import english_in

TABLES = ("days", "products", "reasons", "channels", "times", "came_back", "backlog")


def test_bars_scale_to_the_largest_value():
    chart = charts.grouped_bars([(4, 2), (0, -3)], width=100, height=40)
    assert chart.top == 4
    heights = [(b.series, b.value, b.h) for b in chart.bars]
    assert heights == [(0, 4, 40), (1, 2, 20), (0, 0, 0), (1, 0, 0)]
    assert all(b.y + b.h == 40 for b in chart.bars)
    assert charts.grouped_bars([]).bars == ()


def test_buckets_percentiles_and_shares():
    assert rollups.bucket_of(-5) == 0 and rollups.bucket_of(3599) == 0
    assert rollups.bucket_of(3600) == 1 and rollups.bucket_of(10**9) == rollups.BUCKETS - 1
    counts = [5, 0, 3, 0, 1, 0, 0, 1]
    assert rollups.percentile_edge(counts, 50) == 60
    assert rollups.percentile_edge(counts, 80) == 1440
    assert rollups.percentile_edge(counts, 90) == 4320
    assert rollups.percentile_edge(counts, 100) == -1
    assert rollups.percentile_edge([0] * rollups.BUCKETS, 50) is None
    assert rollups.pct(9, 10) == 90 and rollups.pct(1, 0) is None
    for bad in ("2026-02-30", "2026-1-01", "x" * 10, "", "２０２６-01-01"):
        assert rollups.parse_day(bad) is None


def login(browser, username, role="supervisor", shop=None):
    f.staff(username, role, shop)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code == 303


def _world(clock):
    reviewer = Actor(Role.REVIEWER, f.staff("rev-d").id, "R")
    a, b = f.merchant("shop-a"), f.merchant("shop-b")
    pa, pb = f.product(a, title="Star card"), f.product(b, title="Moon card")
    db.session.commit()
    first = rollups.day_of(clock())
    for week in range(3):
        made = []
        for _ in range(week + 1):
            made.append(
                cases.apply_for_refund(
                    f.order(clock(), m=a, p=pa),
                    cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"),
                )
            )
        clock.advance(hours=5)
        cases.approve(made[-1], reviewer)
        clock.advance(days=7)
    other = cases.apply_for_refund(
        f.order(clock(), m=b, p=pb), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    clock.advance(days=5)
    cases.reject(other, reviewer, "used")
    rollup_service.rebuild(first - timedelta(days=2), rollups.day_of(clock()))
    return a, b, pa, pb, first


HOSTILE = [
    "shop=abc",
    "shop=-1",
    "shop=99999999999999999999",
    "start=2026-02-30",
    "start=yesterday&end=tomorrow",
    "start=0001-01-01&end=9999-12-31",
    "start=2026-03-20&end=2026-03-01",
    "start=%E2%80%AE2026-03-01",
    "product=-3&channel=%3Cscript%3E",
    "channel=" + "x" * 500,
    "shop=1%27%20OR%201=1",
    "shop=&product=&channel=&start=&end=",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_bad_query_parameters_fall_back_quietly(app, browser, clock, query):
    _world(clock)
    login(browser, "sup-d")
    for url in ("/review/dashboard", "/review/dashboard/days.csv"):
        r = browser.get(f"{url}?{query}")
        assert r.status_code == 200, (url, query)
        body = r.get_data(as_text=True)
        assert "Traceback" not in body and "<script>" not in body


def test_a_period_is_bounded_and_never_reaches_past_today(app, clock):
    today = rollups.day_of(clock())
    f_ = dashboard.filters(None, start="2000-01-01", end="2999-01-01")
    assert f_.last == today and f_.days == rollups.MAX_DAYS
    f_ = dashboard.filters(None, start="2026-03-09", end="2026-03-01")
    assert f_.first < f_.last
    assert dashboard.filters(None).days == dashboard.DEFAULT_DAYS


def test_a_merchant_sees_only_its_own_shop(app, browser, clock):
    a, _b, pa, _pb, first = _world(clock)
    login(browser, "shop-b-staff", "merchant", "shop-b")
    period = f"start={first.isoformat()}"
    own = browser.get(f"/merchant/dashboard?{period}").get_data(as_text=True)
    assert "Moon card" in own and "Star card" not in own
    # another shop's id, or another shop's product, shows nothing of that shop
    for query in (f"shop={a.id}", f"product={pa.id}", f"shop={a.id}&product={pa.id}"):
        html = browser.get(f"/merchant/dashboard?{period}&{query}").get_data(as_text=True)
        assert "Star card" not in html, query
        for table in TABLES:
            body = browser.get(f"/merchant/dashboard/{table}.csv?{period}&{query}")
            assert body.status_code == 200
            assert "Star card" not in body.get_data(as_text=True)
    products = browser.get(f"/merchant/dashboard/products.csv?{period}&shop={a.id}")
    rows = list(csv.reader(io.StringIO(products.get_data(as_text=True).lstrip("\ufeff"))))
    assert [r[:4] for r in rows[1:]] == [["Moon card", "1", "1", "0"]]
    assert browser.get("/review/dashboard").status_code == 403
    assert browser.get("/review/dashboard/days.csv").status_code == 403


def test_every_table_exports_as_csv(app, browser, clock):
    a, _b, _pa, _pb, first = _world(clock)
    login(browser, "sup-c")
    period = f"start={(first - timedelta(days=2)).isoformat()}"  # the first orders' payments
    page = browser.get(f"/review/dashboard?{period}&shop={a.id}").get_data(as_text=True)
    for table in TABLES:
        assert f"/review/dashboard/{table}.csv?" in page, table
        link = re.search(rf'href="(/review/dashboard/{table}\.csv\?[^"]+)"', page).group(1)
        assert f"shop={a.id}" in link  # the page's filters go with the link
        r = browser.get(link.replace("&amp;", "&"))
        assert r.status_code == 200 and r.mimetype == "text/csv"
        assert "attachment" in r.headers["Content-Disposition"]
    rows = list(
        csv.reader(
            io.StringIO(
                browser.get(f"/review/dashboard/products.csv?{period}")
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert rows[0][0] == "商品" or rows[0][0] == "Product"
    assert sorted(r[:5] for r in rows[1:]) == [
        ["Moon card", "1", "1", "0", "0.00"],
        ["Star card", "6", "6", "3", "3.00"],
    ]
    times = list(
        csv.reader(
            io.StringIO(
                browser.get(
                    f"/review/dashboard/times.csv?{period}", headers={"Accept-Language": "en"}
                )
                .get_data(as_text=True)
                .lstrip("\ufeff")
            )
        )
    )
    assert times[0] == ["Time taken", "Decisions", "Merchants' first answers"]
    assert len(times) == 1 + rollups.BUCKETS and times[-1][0] == "longer than 10 days"
    assert sum(int(r[1]) for r in times[1:]) == 4  # three approvals and a rejection
    assert times[3] == ["at most 24 hours", "3", "0"]  # the approvals, five hours each
    reasons = browser.get(f"/review/dashboard/reasons.csv?{period}").get_data(as_text=True)
    assert reasons.count("\n") == 2  # the header and one reason
    assert browser.get("/review/dashboard/nothing.csv").status_code == 404


def test_a_formula_in_a_product_title_is_not_run_by_a_spreadsheet(app, browser, clock):
    shop = f.merchant("shop-f")
    p = f.product(shop, title="=HYPERLINK(1)")
    db.session.commit()
    f.order(clock(), m=shop, p=p)
    db.session.commit()
    rollup_service.rebuild(rollups.day_of(clock()) - timedelta(days=2), rollups.day_of(clock()))
    login(browser, "sup-f")
    body = browser.get("/review/dashboard/products.csv").get_data(as_text=True)
    assert "'=HYPERLINK(1)" in body


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_pages_show_charts_with_tables_within_budget(app, browser, clock, lang):
    a, *_rest, first = _world(clock)
    login(browser, "sup-p")
    headers = {"Accept-Language": lang}
    for query in ("", f"?start={first.isoformat()}", "?start=2025-12-01", f"?shop={a.id}"):
        r = browser.get(f"/review/dashboard{query}", headers=headers)
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and html.count("<svg") == 3 and html.count("<table") >= 6
        assert "<script" not in html.split("</header>", 1)[-1].split("<footer", 1)[0]
        size = len(gzip.compress(r.get_data(), compresslevel=6))
        assert size < 14 * 1024, (query, size)
        if lang == "zh-CN":
            assert english_in(html) == [], query
    shown = browser.get(f"/review/dashboard?shop={a.id}").get_data(as_text=True)
    assert re.search(rf'<option value="{a.id}"[^>]* selected', shown)
    login(browser, "shop-a-p", "merchant", "shop-a")
    html = browser.get("/merchant/dashboard", headers=headers).get_data(as_text=True)
    if lang == "zh-CN":
        assert english_in(html) == []
    assert html.count("<svg") == 3


def test_figures_per_shop_and_for_the_platform(app, clock):
    a, b, _pa, pb, first = _world(clock)
    period = ((first - timedelta(days=2)).isoformat(), "")  # the first orders' payments
    shop_a = dashboard.build(dashboard.filters(a.id, None, "", *period))
    assert shop_a.totals["filed"] == 6 and shop_a.totals["refunded"] == 3
    assert shop_a.totals["paid"] == 6 and shop_a.refund_rate_pct == 50
    assert shop_a.review.p50 == 60 * 24 and shop_a.on_time_pct == 100  # 5 hours
    everyone = dashboard.build(dashboard.filters(None, None, "", *period))
    assert everyone.totals["filed"] == 7 and everyone.totals["decided"] == 4
    # the rejection took five days, Wednesday 1 April to Monday 6 April: two working days, the
    # weekend and Qingming (Monday) being days off, within the three of the review target
    assert everyone.on_time_pct == 100
    assert everyone.review.p90 == 14400  # five days is in the bucket "up to ten days"
    assert [p.filed for p in everyone.periods if p.filed] == [1, 2, 3, 1]
    shop_b = dashboard.build(dashboard.filters(b.id, None, "", *period))
    assert shop_b.totals["filed"] == 1 and shop_b.totals["rejected"] == 1
    assert dashboard.build(dashboard.filters(a.id, pb.id, "", *period)).totals["paid"] == 0


def test_the_open_backlog_by_age(app, clock):
    shop = f.merchant("shop-o")
    db.session.commit()
    ages = [0, 2, 2, 5, 10, 40]
    start = clock()
    for age in sorted(ages, reverse=True):
        clock.set(start - timedelta(days=age, hours=1))
        cases.apply_for_refund(
            f.order(clock(), m=shop), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
        )
    clock.set(start)
    counted = [(1, 1), (3, 2), (7, 1), (30, 1), (-1, 1)]
    nothing = [(1, 0), (3, 0), (7, 0), (30, 0), (-1, 0)]
    # before the minute's first count, the page counts for itself
    assert backlogs.of(shop.id) == backlogs.Backlog(counted, None)
    assert backlogs.refresh() == 7  # the shop's six products (an order each), the platform
    assert backlogs.of(shop.id) == backlogs.Backlog(counted, start)
    assert backlogs.of(None) == backlogs.of(shop.id)
    assert backlogs.of(shop.id + 1) == backlogs.Backlog(nothing, start)
    # a case filed since is in the next count, which equals a count made there and then
    clock.advance(minutes=1)
    cases.apply_for_refund(
        f.order(clock(), m=shop), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
    )
    assert backlogs.of(shop.id).total == 6
    backlogs.refresh()
    assert backlogs.of(shop.id).groups == backlogs.live(shop.id).groups
    assert backlogs.of(shop.id).total == 7


def _open_cases(clock, shop, product, channel, n):
    for _ in range(n):
        cases.apply_for_refund(
            f.order(clock(), m=shop, p=product, channel=channel),
            cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x"),
        )


def test_the_open_backlog_by_product_and_channel(app, clock):
    a, b = f.merchant("shop-ba"), f.merchant("shop-bb")
    pa1, pa2, pb = f.product(a), f.product(a), f.product(b)
    db.session.commit()
    _open_cases(clock, a, pa1, "fakepay", 3)
    _open_cases(clock, a, pa1, "otherpay", 2)
    _open_cases(clock, a, pa2, "fakepay", 1)
    clock.advance(days=2)
    _open_cases(clock, b, pb, "otherpay", 4)
    keys = [
        (a.id, None, ""),
        (a.id, pa1.id, ""),
        (a.id, pa2.id, ""),
        (a.id, None, "otherpay"),
        (a.id, pa1.id, "fakepay"),
        (None, None, "otherpay"),
        (None, pb.id, ""),
        (None, None, ""),
        (a.id, pb.id, ""),  # another shop's product: nothing
        (b.id, pa1.id, ""),
        (a.id, None, "nopay"),
    ]
    before = {k: backlogs.of(*k) for k in keys}  # counted for the page, before the first count
    assert all(x.taken_at is None for x in before.values())
    assert backlogs.refresh() == 5  # a's three (product, route) pairs, b's one, the platform
    after = {k: backlogs.of(*k) for k in keys}
    assert all(x.taken_at == clock() for x in after.values())
    totals = {k: x.total for k, x in after.items()}
    assert totals == {
        (a.id, None, ""): 6,
        (a.id, pa1.id, ""): 5,
        (a.id, pa2.id, ""): 1,
        (a.id, None, "otherpay"): 2,
        (a.id, pa1.id, "fakepay"): 3,
        (None, None, "otherpay"): 6,
        (None, pb.id, ""): 4,
        (None, None, ""): 10,
        (a.id, pb.id, ""): 0,
        (b.id, pa1.id, ""): 0,
        (a.id, None, "nopay"): 0,
    }
    # the snapshot's sums equal a count made there and then, age group by age group
    assert {k: x.groups for k, x in after.items()} == {k: x.groups for k, x in before.items()}
    assert after[(None, None, "otherpay")].groups[:2] == [(1, 4), (3, 2)]


def test_a_merchant_sees_only_its_own_open_cases_whatever_the_filters(app, browser, clock):
    a, b = f.merchant("shop-a"), f.merchant("shop-b")
    pa, pb = f.product(a, title="Star card"), f.product(b, title="Moon card")
    db.session.commit()
    _open_cases(clock, a, pa, "otherpay", 3)
    _open_cases(clock, b, pb, "fakepay", 2)
    backlogs.refresh()
    login(browser, "shop-b-bl", "merchant", "shop-b")

    def open_cases(query: str) -> int:
        body = browser.get(f"/merchant/dashboard/backlog.csv?{query}").get_data(as_text=True)
        rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))
        return sum(int(r[1]) for r in rows[1:])

    # its own shop's, whatever shop the query names
    for query in ("", f"shop={a.id}", f"product={pb.id}", "channel=fakepay"):
        assert open_cases(query) == 2, query
    # another shop's product or route finds nothing of that shop
    for query in (f"product={pa.id}", "channel=otherpay", f"shop={a.id}&channel=otherpay"):
        assert open_cases(query) == 0, query


def test_statement_count_does_not_grow_with_the_cases(app, clock):
    a, *_ = _world(clock)
    shop_id = a.id
    backlogs.refresh()

    def statements() -> int:
        seen = []
        listener = lambda *args, **kw: seen.append(1)  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            dashboard.build(dashboard.filters(shop_id))
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for _ in range(20):
        cases.apply_for_refund(
            f.order(clock(), m=a), cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "x")
        )
        clock.advance(minutes=30)
    rollup_service.rebuild(rollups.day_of(clock()) - timedelta(days=3), rollups.day_of(clock()))
    assert statements() == few <= 5


def test_a_control_character_in_the_query_is_refused_clearly(app, browser):
    login(browser, "sup-z")
    for url in ("/review/dashboard?start=%00", "/review/dashboard/days.csv?channel=%00"):
        r = browser.get(url)
        assert r.status_code == 400 and "Traceback" not in r.get_data(as_text=True)


def test_the_page_lists_the_busiest_products_and_the_csv_all(app, browser, clock):
    shop = f.merchant("shop-many")
    db.session.commit()
    for i in range(dashboard.PRODUCT_ROWS + 5):
        p = f.product(shop, title=f"Card no {i:02d}")
        for _ in range(1 + i % 3):
            f.order(clock(), m=shop, p=p)
    db.session.commit()
    rollup_service.rebuild(rollups.day_of(clock()) - timedelta(days=2), rollups.day_of(clock()))
    login(browser, "sup-many")
    page = browser.get("/review/dashboard").get_data(as_text=True)
    table = page.split("/review/dashboard/products.csv")[0].rsplit("<table>", 1)[1]
    assert table.count("Card no") == dashboard.PRODUCT_ROWS
    assert "Card no 02" in table  # three orders: among the busiest
    body = browser.get("/review/dashboard/products.csv").get_data(as_text=True)
    assert body.count("Card no") == dashboard.PRODUCT_ROWS + 5
