"""Operators' plugin pages (supervisors only) and the channel switch that stops payouts."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from portal import hookimpl
from portal.extensions import db
from portal.models import ChannelSwitch, Event, Payout, RefundCase
from portal.plugins.settings import Setting, declared_settings
from portal.services.errors import DomainError
from portal.services.money import channel_switches, settlement
from tests import factories as f
from tests.test_settlement import approved_case, reviewer  # noqa: F401 - fixture

SECRET = "sk-live-0123456789abcdef"


def login(browser, username, role):
    f.staff(username, role)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code in (302, 303)


def test_only_supervisors_see_the_plugin_pages(app, browser):
    login(browser, "rev-p", "reviewer")
    assert browser.get("/review/plugins/").status_code == 403
    assert browser.get("/review/plugins/settings").status_code == 403


def test_plugins_page_lists_plugins_versions_and_channels(app, browser):
    login(browser, "sup-p", "supervisor")
    page = browser.get("/review/plugins/").get_data(as_text=True)
    assert "refund-portal-bank" in page and "0.1.0" in page
    assert "fakepay" in page and "/review/plugins/channels/fakepay/disable" in page


def test_disabled_channel_refuses_approval_and_writes_nothing(app, browser, clock, reviewer):  # noqa: F811
    login(browser, "sup-d", "supervisor")
    r = browser.submit(
        "/review/plugins/", "/review/plugins/channels/fakepay/disable", {"reason": ""}
    )
    assert r.status_code == 303 and channel_switches.is_enabled("fakepay")  # reason required
    r = browser.submit(
        "/review/plugins/", "/review/plugins/channels/fakepay/disable", {"reason": "audit"}
    )
    assert not channel_switches.is_enabled("fakepay")
    assert db.session.scalar(select(Event.kind).where(Event.kind == "channel_disabled"))
    with pytest.raises(DomainError, match="disabled by an operator"):
        approved_case(clock, reviewer)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert db.session.scalar(select(RefundCase.state)) == "submitted"
    browser.submit("/review/plugins/", "/review/plugins/channels/fakepay/enable", {})
    assert channel_switches.is_enabled("fakepay")
    assert approved_case(clock, reviewer).state == "refunding"


def test_payout_under_way_is_held_while_the_channel_is_disabled(app, clock, reviewer, gateway):  # noqa: F811
    approved_case(clock, reviewer)
    payout = db.session.scalars(select(Payout)).one()
    db.session.add(ChannelSwitch(channel_id="fakepay", enabled=False, changed_at=clock()))
    db.session.commit()
    step = settlement.settle(payout.id)
    assert not step.done and step.retry_at is not None
    assert gateway.calls == [] and db.session.get(Payout, payout.id).state == "created"


def test_unknown_channel_cannot_be_switched(app):
    with pytest.raises(DomainError, match="no loaded payout channel"):
        channel_switches.set_enabled("nopay", False, None, "x", {"fakepay"})  # type: ignore[arg-type]


class SecretPlugin:
    @hookimpl
    def register_settings(self):
        return [
            Setting("TESTPAY_URL", "TestPay URL", required=True),
            Setting("TESTPAY_KEY", "TestPay key", secret=True, required=True),
            Setting("TESTPAY_TIMEOUT", "Timeout", validator=self.seconds),
        ]

    @staticmethod
    def seconds(text):
        if not text.isdigit():
            raise ValueError("whole seconds")


def test_settings_page_never_shows_a_secret(app, browser):
    app.config["TESTPAY_KEY"] = SECRET
    app.extensions["portal.plugins.manager"].register(SecretPlugin(), name="testpay")
    login(browser, "sup-s", "supervisor")
    page = browser.get("/review/plugins/settings").get_data(as_text=True)
    assert SECRET not in page
    # the value cell says "set" (the formatted template puts it on a line of its own)
    assert "PORTAL_TESTPAY_KEY" in page and re.search(r"<td>\s*set\s*</td>", page)
    assert "PORTAL_WECHAT_APIV3_KEY" in page  # the built-in plugins declare theirs
    bad = browser.submit(
        "/review/plugins/settings",
        "/review/plugins/settings/check",
        {"TESTPAY_URL": "", "TESTPAY_TIMEOUT": "soon"},
    )
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "whole seconds" in text and "required" in text
    assert SECRET not in text and 'name="TESTPAY_KEY"' not in text


def test_settings_check_form_validates(app, browser):
    app.extensions["portal.plugins.manager"].register(SecretPlugin(), name="testpay")
    login(browser, "sup-c", "supervisor")
    page = browser.get("/review/plugins/settings").get_data(as_text=True)
    fields = dict(re.findall(r'<input id="(\w+)"[^>]*value="([^"]*)"', page))
    if "BALANCE_LEDGER_PATH" in fields:  # examples/balance installed: required there
        fields["BALANCE_LEDGER_PATH"] = "/var/lib/portal/wallet.sqlite3"
    fields.update(TESTPAY_URL="https://pay.example", TESTPAY_TIMEOUT="5")
    for _, setting in declared_settings(app.extensions["portal.plugins.manager"]):
        if setting.required and not fields.get(setting.name):  # other installed plugins
            fields[setting.name] = "1"
    good = browser.submit("/review/plugins/settings", "/review/plugins/settings/check", fields)
    assert good.status_code == 200, good.get_data(as_text=True)
    assert 'TESTPAY_URL = "https://pay.example"' in good.get_data(as_text=True)
