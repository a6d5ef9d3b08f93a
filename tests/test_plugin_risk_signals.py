"""An installation's own risk signals (``assess_refund_risk``): asked once when an application
is filed, kept on the case, raising its level by the operator's rule for ``risk_plugin``, shown
to the reviewer in the reader's language and never asked again by the reviewer's page.
Hostile plugins first: raising, hanging, returning garbage never stop an application."""

from __future__ import annotations

import threading
import time

import pytest

from portal import hookimpl
from portal.plugins.risk_signals import PluginSignal, RiskApplication
from portal.plugins.words import Words
from tests import factories as f
from tests.test_risk import apply, order_for, signals_of


@pytest.fixture
def plugins(app):
    pm = app.extensions["portal.plugins.manager"]
    added: list[str] = []

    def add(plugin, name):
        pm.register(plugin, name=name)
        added.append(name)
        return plugin

    yield add
    for name in added:
        pm.unregister(name=name)


SAYS = Words(zh="该买家在本店的黑名单上", en="This buyer is on our shop's block list")


class Listing:
    """Flags contacts on a list: 3 (high) for the listed, 1 for a watched domain."""

    def __init__(self) -> None:
        self.seen: list[RiskApplication] = []

    @hookimpl
    def assess_refund_risk(self, application):
        self.seen.append(application)
        if application.contact == "bad@example.com":
            return [PluginSignal(3, SAYS)]
        if application.contact.endswith("@watched.example"):
            return [
                PluginSignal(1, Words(zh="关注的域名", en="A watched domain")),
                PluginSignal(0, SAYS),
            ]
        return []


class Returns:
    def __init__(self, value) -> None:
        self.value = value

    @hookimpl
    def assess_refund_risk(self, application):
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


class Hangs:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def assess_refund_risk(self, application):
        self.release.wait(30)
        return [PluginSignal(3, SAYS)]


def test_hook_assess_refund_risk(app, clock, plugins):
    listing = plugins(Listing(), "shop-block-list")
    order = order_for(clock, contact=" Bad@Example.com")
    order.payment.payer_id = "O-9"
    case = apply(order, address="192.0.2.7")
    [seen] = listing.seen
    assert isinstance(seen, RiskApplication)
    assert (seen.contact, seen.payer_id, seen.address) == ("bad@example.com", "O-9", "192.0.2.7")
    assert (seen.order_no, seen.reason, seen.amount_fen) == (order.order_no, "unusable", 10000)
    assert case.risk_level == "high" and signals_of(case)["risk_plugin"] == (3, "high")
    kept = next(s for s in case.risk_signals if s["code"] == "risk_plugin")
    assert kept["params"] == {
        "plugin": "shop-block-list",
        "words_zh": SAYS.zh,
        "words_en": SAYS.en,
    }
    assert case.auto_rule == ""


def test_a_value_of_one_asks_for_a_person_and_zero_is_nothing(app, clock, plugins):
    plugins(Listing(), "shop-block-list")
    case = apply(order_for(clock, contact="x@watched.example"))
    assert [s["value"] for s in case.risk_signals if s["code"] == "risk_plugin"] == [1]
    assert case.risk_level == "review"
    fine = apply(order_for(clock, contact="fine@example.com"))
    assert "risk_plugin" not in signals_of(fine)


@pytest.mark.parametrize(
    "value",
    [
        RuntimeError("fraud service down"),
        None,
        "high",
        {"value": 3},
        [{"value": 3, "reason": "x"}],
        [PluginSignal(True, SAYS)],  # type: ignore[arg-type]
        [PluginSignal(-1, SAYS)],
        [PluginSignal(10**9, SAYS)],
        [PluginSignal(3, "plain text")],  # type: ignore[arg-type]
    ],
    ids=["raises", "none", "text", "dict", "list of dicts", "bool", "negative", "huge", "no words"],
)
def test_a_broken_risk_plugin_adds_nothing_and_the_case_is_filed(app, clock, plugins, value):
    plugins(Returns(value), "broken-risk")
    case = apply(order_for(clock))
    assert case.case_no and "risk_plugin" not in signals_of(case)


def test_a_hanging_risk_plugin_is_abandoned_after_the_timeout(app, clock, plugins):
    hangs = plugins(Hangs(), "slow-risk")
    plugins(Listing(), "shop-block-list")
    app.config["RISK_PLUGIN_TIMEOUT"] = 0.3
    try:
        started = time.monotonic()
        case = apply(order_for(clock, contact="bad@example.com"))
        waited = time.monotonic() - started
    finally:
        hangs.release.set()
    assert waited < 5
    kept = [s["params"]["plugin"] for s in case.risk_signals if s["code"] == "risk_plugin"]
    assert kept == ["shop-block-list"]


def test_the_reviewer_reads_the_reason_and_the_page_asks_no_plugin(app, browser, clock, plugins):
    listing = plugins(Listing(), "shop-block-list")
    case = apply(order_for(clock, contact="bad@example.com"))
    f.staff("rev-rp")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-rp", "password": "password-123"}
    )
    html = browser.get(f"/review/cases/{case.case_no}").get_data(as_text=True)
    assert "shop-block-list: This buyer is on our shop&#39;s block list" in html
    zh = browser.client.get(f"/review/cases/{case.case_no}", headers={"Accept-Language": "zh-CN"})
    assert "shop-block-list：该买家在本店的黑名单上" in zh.get_data(as_text=True)
    assert len(listing.seen) == 1  # asked when filed, never by the page
