"""The notifier end to end against the simulator: provider errors first, then the happy path.

Number and parameter validation, duplicates and the cap are shared helpers
(portal.plugins.sms), tested in depth with the Alibaba Cloud plugin; here the cases that
depend on Tencent's answers.
"""

from __future__ import annotations

import logging

import pytest
from refund_portal_sms_tencent.plugin import notify, register_settings

from portal.plugins.notices import NoticeMessage
from portal.plugins.sms import SmsTransientError


def _notice(i=1, contact="8613800138000", kind="state", state="refunded", case_no="RF-9"):
    return NoticeMessage(
        id=i, audience="buyer", kind=kind, text="已退款", case_no=case_no, contact=contact,
        state=state,
    )  # fmt: skip


@pytest.mark.parametrize("contact", ["+86 1380013800", "13800138000\x07", "+8613800138000x"])
def test_bad_numbers_are_not_sent(sim, settings, contact):
    assert notify(_notice(contact=contact), settings) == "no mainland mobile"
    assert sim.sent == []


def test_the_providers_daily_limit_is_logged_not_retried(sim, settings, caplog):
    sim.daily_limited.add("+8613800138000")
    with caplog.at_level(logging.WARNING):
        assert notify(_notice(), settings) == "refused LimitExceeded.PhoneNumberDailyLimit"
    assert "PhoneNumberDailyLimit" in caplog.text


def test_throttling_is_retried(sim, settings):
    sim.throttled = True
    with pytest.raises(SmsTransientError, match="RequestLimitExceeded"):
        notify(_notice(), settings)
    sim.throttled = False
    assert notify(_notice(), settings) == "sent"


def test_a_timeout_is_a_retryable_failure(sim, settings):
    sim.hang_s = 1.5
    with pytest.raises(SmsTransientError, match="Timeout"):
        notify(_notice(), settings)


def test_a_wrong_key_is_logged_not_raised(sim, settings):
    settings["SMS_TENCENT_SECRET_KEY"] = "wrong"
    assert notify(_notice(), settings) == "refused AuthFailure.SignatureFailure"


def test_our_cap_stops_before_the_provider(sim, settings):
    outcomes = [notify(_notice(i=i), settings) for i in range(1, 4)]
    assert outcomes == ["sent", "sent", "daily cap"]
    assert len(sim.sent) == 2


def test_events_use_their_templates_with_the_case_number_as_param_1(sim, settings):
    assert notify(_notice(i=1, state="needs_info"), settings) == "sent"
    assert notify(_notice(i=2, kind="escalated", state=""), settings) == "sent"
    assert [(s.template, s.params, s.phone) for s in sim.sent] == [
        ("100003", ["RF-9"], "+8613800138000"),
        ("100005", ["RF-9"], "+8613800138000"),
    ]
    assert sim.sent[0].app_id == sim.app_id


def test_settings_declare_keys_secret_and_templates():
    by_name = {s.name: s for s in register_settings()}
    assert by_name["SMS_TENCENT_SECRET_KEY"].secret
    assert by_name["SMS_TENCENT_TEMPLATE_APPROVED"].check("SMS_1") != ""
    assert by_name["SMS_TENCENT_TEMPLATE_APPROVED"].check("100001") == ""
