"""Every buyer and staff page's HTML stays under 14 KB gzipped (one round trip on a slow phone)."""

from __future__ import annotations

import gzip

import pytest

from portal.domain.policy import Kind, Reason
from portal.services import cases
from tests import factories as f
from tests.test_buyer_flow import login_order

BUDGET = 14 * 1024


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=6))


@pytest.fixture
def pages(app, browser, clock):
    order = f.order(clock(), codes=5)
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 5000, "x" * 1500)
    )
    login_order(browser, order)
    return order, case


def test_buyer_pages_fit_the_budget(app, browser, pages):
    order, case = pages
    fresh = f.order(order.paid_at)  # an order with no case yet: the full application form
    login_order(browser, fresh)
    sizes = {}
    urls = [
        "/",
        f"/orders/{order.order_no}",
        f"/orders/{fresh.order_no}/apply",
        f"/cases/{case.case_no}",
    ]
    for lang in ("zh-CN", "en"):
        for url in urls:
            r = browser.get(url, headers={"Accept-Language": lang})
            assert r.status_code == 200, url
            sizes[f"{lang} {url}"] = gz(r.data)
    print("\nbuyer pages (gzipped bytes):", sizes)
    assert all(size < BUDGET for size in sizes.values()), sizes


def test_staff_pages_fit_the_budget(app, browser, pages, clock):
    _order, case = pages
    for _ in range(40):  # a busy queue
        o = f.order(clock())
        cases.apply_for_refund(o, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "y"))
    f.staff("budget")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "budget", "password": "password-123"}
    )
    sizes = {}
    for url in ["/staff/login", "/review/", f"/review/cases/{case.case_no}", "/review/payouts/"]:
        r = browser.get(url)
        assert r.status_code == 200, url
        sizes[url] = gz(r.data)
    print("\nstaff pages (gzipped bytes):", sizes)
    assert all(size < BUDGET for size in sizes.values()), sizes


def test_no_other_origin_and_no_web_fonts(app, browser, pages):
    order, case = pages
    for url in [
        "/",
        f"/orders/{order.order_no}",
        f"/orders/{order.order_no}/apply",
        f"/cases/{case.case_no}",
    ]:
        html = browser.get(url).get_data(as_text=True)
        assert "http://" not in html.replace("http://portal.test", "") and "https://" not in html
        assert "@font-face" not in html and ".woff" not in html
    css = browser.get("/static/portal.css").get_data(as_text=True)
    assert "@font-face" not in css and "url(" not in css
