"""The notifier end to end against the simulator: hostile cases first, then the happy path."""

from __future__ import annotations

import logging
import threading

import pytest
from redis import Redis
from refund_portal_sms_aliyun.plugin import notify, register_settings

from portal.plugins.notices import NoticeMessage
from portal.plugins.sms import DailyCap, SmsTransientError


def _notice(i=1, contact="+86 138-0013-8000", kind="state", state="approved", case_no="RF-1"):
    return NoticeMessage(
        id=i, audience="buyer", kind=kind, text="已同意", case_no=case_no, contact=contact,
        state=state,
    )  # fmt: skip


@pytest.mark.parametrize(
    "contact",
    ["", "buyer@example.com", "+85291234567", "1380013800", "+86 12800138000", "13800138000\n",
     "010-12345678", "+1 415 555 0100", "１３８００１３８０００"],
)  # fmt: skip
def test_bad_numbers_are_not_sent(sim, settings, contact):
    assert notify(_notice(contact=contact), settings) == "no mainland mobile"
    assert sim.sent == []


@pytest.mark.parametrize("case_no", ["RF-1\x00", "RF\r\nX", "http://x.cn", "退款", "a" * 40])
def test_template_params_with_control_characters_or_text_are_not_sent(sim, settings, case_no):
    assert notify(_notice(case_no=case_no), settings) == "unsafe parameter"
    assert sim.sent == []


def test_minor_and_other_audience_notices_are_not_sent(sim, settings):
    assert notify(_notice(state="under_review"), settings) == "not an sms event"
    merchant = NoticeMessage(id=9, audience="merchant", kind="state", text="", state="approved")
    assert notify(merchant, settings) == "not an sms event"
    assert sim.sent == []


def test_throttling_is_retried_and_gives_the_reservation_back(sim, settings, redis_url):
    sim.throttled.add("+8613800138000")
    with pytest.raises(SmsTransientError, match="BUSINESS_LIMIT_CONTROL"):
        notify(_notice(), settings)
    cap = DailyCap(Redis.from_url(redis_url), "sms_aliyun", 2)
    assert cap.used("+8613800138000") == 0
    sim.throttled.clear()
    assert notify(_notice(), settings) == "sent"  # the retry of the same notice goes through


def test_a_timeout_is_a_retryable_failure(sim, settings):
    sim.hang_s = 1.5
    with pytest.raises(SmsTransientError, match="Timeout"):
        notify(_notice(), settings)


def test_a_wrong_secret_is_logged_not_raised(sim, settings, caplog):
    settings["SMS_ALIYUN_SECRET"] = "wrong"
    with caplog.at_level(logging.WARNING):
        assert notify(_notice(), settings) == "refused SignatureDoesNotMatch"
    assert "SignatureDoesNotMatch" in caplog.text


def test_the_daily_cap_holds_under_concurrency(sim, settings):
    outcomes: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: outcomes.append(notify(_notice(i=i), settings)))
        for i in range(1, 9)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes).count("sent") == 2
    assert outcomes.count("daily cap") == 6
    assert len(sim.sent) == 2


def test_a_repeated_delivery_sends_once(sim, settings):
    assert notify(_notice(i=7), settings) == "sent"
    assert notify(_notice(i=7), settings) == "duplicate"
    assert len(sim.sent) == 1


def test_each_event_uses_its_template_with_codes_only(sim, settings):
    cases = [
        ("state", "approved", "SMS_100001"),
        ("state", "rejected", "SMS_100002"),
        ("state", "needs_info", "SMS_100003"),
        ("state", "refunded", "SMS_100004"),
        ("payout_late", "", "SMS_100005"),
    ]
    settings["SMS_ALIYUN_DAILY_CAP"] = "10"
    for i, (kind, state, _) in enumerate(cases, start=1):
        assert notify(_notice(i=i, kind=kind, state=state), settings) == "sent"
    assert [s.template for s in sim.sent] == [t for *_, t in cases]
    assert all(s.params == {"case_no": "RF-1"} and s.phone == "+8613800138000" for s in sim.sent)


def test_not_configured_sends_nothing(sim):
    assert notify(_notice(), {}) == "not configured"


def test_settings_declare_keys_secret_and_templates():
    by_name = {s.name: s for s in register_settings()}
    assert by_name["SMS_ALIYUN_SECRET"].secret
    assert by_name["SMS_ALIYUN_TEMPLATE_LATE"].check("bad") != ""
    assert by_name["SMS_ALIYUN_TEMPLATE_LATE"].check("SMS_1") == ""
    assert by_name["SMS_ALIYUN_DAILY_CAP"].check("0") != ""
