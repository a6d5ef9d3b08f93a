"""No false offers: the order page says what the rules will decide before any form is shown."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.domain.policy import Application, OrderFacts, Reason, decide, outlook
from tests import factories as f
from tests.conftest import Browser


def open_order_page(browser: Browser, order) -> str:
    r = browser.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 303, r.status_code
    page = browser.client.get(r.headers["Location"], headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    return page.get_data(as_text=True)


def test_an_eligible_order_offers_the_form(app, browser, clock):
    text = open_order_page(browser, f.order(clock()))
    assert "申请退款" in text and "仍可退款" in text


@pytest.mark.parametrize(
    ("kw", "says"),
    [
        ({"paid_ago": timedelta(days=30)}, "7 天内"),  # after the window
        ({"used": True}, "已激活或使用"),  # the code was topped up
    ],
)
def test_a_refused_order_says_why_and_offers_no_form(app, browser, clock, kw, says):
    order = f.order(clock(), **kw)
    text = open_order_page(browser, order)
    assert f"/orders/{order.order_no}/apply" not in text
    assert "仍可退款" not in text
    assert says in text, text


def test_a_special_policy_is_shown_once(app, browser, clock):
    m = f.merchant()
    p = f.product(
        m,
        refund_window_days=0,
        policy_overrides_window=True,
        policy_text="账号类商品交付后不支持退款。",
    )
    order = f.order(clock(), m=m, p=p, paid_ago=timedelta(days=2))
    text = open_order_page(browser, order)
    assert text.count("账号类商品交付后不支持退款。") == 1
    assert f"/orders/{order.order_no}/apply" not in text


def test_outlook_agrees_with_what_an_application_would_meet(clock):
    """For every combination of order facts, the outlook is eligible exactly when some buyer
    reason would be accepted by ``decide`` for the whole refundable amount."""
    now = clock()
    for delivered in (None, timedelta(minutes=1), timedelta(days=2)):
        for paid_ago in (timedelta(hours=1), timedelta(days=3), timedelta(days=30)):
            for used in (False, True):
                for refundable in (0, 100):
                    facts = OrderFacts(
                        paid_at=now - paid_ago,
                        delivered_at=now - paid_ago + delivered if delivered else None,
                        cancelled_at=None,
                        goods_used=used,
                        delivery_sla=timedelta(hours=24),
                        refund_window=timedelta(days=7),
                        refundable_fen=refundable,
                    )
                    some = any(
                        decide(facts, Application(r, refundable, "x" * 20), now).eligible
                        for r in Reason
                        if r not in (Reason.CANCELLED, Reason.BUYER_MISTAKE)
                    )
                    assert outlook(facts, now).eligible is some, facts


def test_the_apply_form_names_the_buyers_own_order(app, browser, clock):
    order = f.order(clock())
    open_order_page(browser, order)
    page = browser.client.get(
        f"/orders/{order.order_no}/apply", headers={"Accept-Language": "zh-CN"}
    )
    text = page.get_data(as_text=True)
    assert f"订单号 {order.order_no}" in text and "DEMO1001" not in text


def test_refusals_give_times_in_china_time():
    """A window that closed at 16:30 UTC closed at 00:30 the next day in Beijing: the refusal
    names the day the buyer lives in."""
    from datetime import UTC, datetime

    delivered = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    facts = OrderFacts(
        paid_at=delivered - timedelta(minutes=5),
        delivered_at=delivered,
        cancelled_at=None,
        goods_used=False,
        delivery_sla=timedelta(hours=24),
        refund_window=timedelta(days=7),
        refundable_fen=100,
    )
    late = decide(facts, Application(Reason.UNUSABLE, 100, "x" * 20), delivered + timedelta(days=9))
    assert late.rule == "after_window" and late.params["date"] == "2026-03-09 00:30"
