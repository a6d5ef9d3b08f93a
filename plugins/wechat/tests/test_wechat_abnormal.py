"""ABNORMAL refunds: held by WeChat Pay, sent on with apply-abnormal-refund, or recovering by
themselves; hostile redirect requests are refused by the simulator as the documentation says."""

from __future__ import annotations

import json

import pytest
from refund_portal_wechat import crypto
from refund_portal_wechat.channel import REDIRECT_BANKS

from portal.plugins.channels import AbnormalRedirect, AbnormalRedirector, ResultStatus

S = ResultStatus
CARD = AbnormalRedirect(True, "ICBC_DEBIT", "6222020200112233445", "张三")


@pytest.fixture
def abnormal(channel, sim, sink, new_trade, new_refund, wait_until):
    """A refund WeChat Pay holds as ABNORMAL, its request and its ABNORMAL notification."""
    sink.channel = channel
    sim.misbehave("abnormal")
    payment = new_trade(sim, 2100)
    request = new_refund(payment, 2100, notify_url=sink.url)
    held = channel.execute_refund(request)
    assert held.status is S.ABNORMAL and held.gateway_reference
    wait_until(sink.accepted)
    return request, held


def test_channel_declares_the_redirect_capability(channel):
    assert isinstance(channel, AbnormalRedirector)
    codes = [code for code, _name in channel.redirect_banks()]
    assert len(codes) == 15 and "ICBC_DEBIT" in codes and codes == [c for c, _ in REDIRECT_BANKS]


def test_redirect_to_the_buyers_card_succeeds_and_notifies(
    channel, sim, sink, abnormal, wait_until
):
    request, held = abnormal
    answer = channel.redirect_abnormal(request, held.gateway_reference, CARD)
    assert answer.status in (S.PENDING, S.SUCCEEDED), answer
    assert answer.gateway_reference == held.gateway_reference
    assert "6222020200112233445" not in json.dumps(answer.raw)  # never the card in results
    notes = wait_until(lambda: [n for n in sink.accepted() if n.status is S.SUCCEEDED])
    assert notes[0].idempotency_key == request.idempotency_key
    assert channel.query_refund(request).status is S.SUCCEEDED
    refund = sim.ledger.get(request.idempotency_key)
    assert refund.received_account == "ICBC_DEBIT尾号3445"
    assert len(sim.movements(request.payment.gateway_trade_id)) == 1  # the same money, sent on


def test_redirect_body_encrypts_the_card_and_the_name(channel, keys, abnormal):
    request, _held = abnormal
    body = channel.redirect_body(request, CARD)
    assert body["type"] == "USER_BANK_CARD" and body["bank_type"] == "ICBC_DEBIT"
    assert "6222" not in body["bank_account"] and "张三" not in body["real_name"]
    platform = crypto.load_private_key(keys["WECHAT_PLATFORM_PRIVATE_KEY"])
    assert crypto.oaep_decrypt(platform, body["bank_account"]) == CARD.card_no
    assert crypto.oaep_decrypt(platform, body["real_name"]) == "张三"
    merchant = channel.redirect_body(request, AbnormalRedirect(False))
    assert merchant == {"out_refund_no": request.idempotency_key, "type": "MERCHANT_BANK_CARD"}


def test_redirect_to_the_merchants_account(channel, abnormal, wait_until):
    request, held = abnormal
    answer = channel.redirect_abnormal(request, held.gateway_reference, AbnormalRedirect(False))
    assert answer.status in (S.PENDING, S.SUCCEEDED)
    wait_until(lambda: channel.query_refund(request).status is S.SUCCEEDED)


@pytest.mark.parametrize(
    ("redirect", "code"),
    [
        (AbnormalRedirect(True, "VISA_CREDIT", "6222020200112233445", "张三"), "PARAM_ERROR"),
        (AbnormalRedirect(True, "ICBC_DEBIT", "62220202", "张三"), "PARAM_ERROR"),
        (AbnormalRedirect(True, "ICBC_DEBIT", "6222-0202-0011-2233", "张三"), "PARAM_ERROR"),
        (AbnormalRedirect(True, "ICBC_DEBIT", "6222020200112233445", " "), "PARAM_ERROR"),
    ],
)
def test_the_simulator_refuses_what_the_documentation_refuses(channel, abnormal, redirect, code):
    request, held = abnormal
    answer = channel.redirect_abnormal(request, held.gateway_reference, redirect)
    assert (answer.status, answer.code) == (S.FAILED, code), answer
    assert channel.query_refund(request).status is S.ABNORMAL  # still held


def test_unknown_refund_id_and_a_refund_that_is_not_abnormal_are_refused(
    channel, sim, new_trade, new_refund
):
    request = new_refund(new_trade(sim, 300), 300)
    done = channel.execute_refund(request)
    assert done.status is S.SUCCEEDED
    answer = channel.redirect_abnormal(request, done.gateway_reference, CARD)
    assert (answer.status, answer.code) == (S.FAILED, "INVALID_REQUEST")
    missing = channel.redirect_abnormal(request, "50000000000000000000000000001", CARD)
    assert (missing.status, missing.code) == (S.FAILED, "RESOURCE_NOT_EXISTS")
    assert channel.redirect_abnormal(request, "", CARD).code == "NO_REFUND_ID"


def test_abnormal_then_success_by_itself(channel, sim, sink, new_trade, new_refund, wait_until):
    sink.channel = channel
    sim.misbehave("abnormal_then_success")
    request = new_refund(new_trade(sim, 700), 700, notify_url=sink.url)
    first = channel.execute_refund(request)
    assert first.status in (S.ABNORMAL, S.PENDING)
    statuses = wait_until(
        lambda: (got := [n.status for n in sink.accepted()]) and S.SUCCEEDED in got and got
    )
    assert statuses == [S.ABNORMAL, S.SUCCEEDED]
    assert channel.query_refund(request).status is S.SUCCEEDED


def test_recover_control_as_from_the_console(channel, sim, abnormal, wait_until):
    request, _held = abnormal
    assert sim.recover(request.idempotency_key)
    assert channel.query_refund(request).status is S.SUCCEEDED
    assert not sim.recover(request.idempotency_key)  # no longer abnormal


def test_redirect_in_certificate_mode_encrypts_with_the_newest_certificate(
    keys_dir, keys, make_channel, new_trade, new_refund, wait_until
):
    from refund_portal_wechat.simulator import WechatSimulator

    sim = WechatSimulator(keys_dir, hang_s=5.0, key_mode="platform_cert").start()
    try:
        channel = make_channel(
            sim.url,
            key_mode="platform_cert",
            platform_public_key=None,
            platform_public_key_id=None,
            trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
        )
        sim.misbehave("abnormal")
        request = new_refund(new_trade(sim, 700), 700)
        held = channel.execute_refund(request)
        assert held.status is ResultStatus.ABNORMAL
        new_serial = sim.rotate_certificate()  # listed and signing: the newest
        channel.refresh_keys()
        answer = channel.redirect_abnormal(request, held.gateway_reference, CARD)
        assert answer.status in (ResultStatus.PENDING, ResultStatus.SUCCEEDED), answer
        redirect = [r for r in sim.requests() if r["path"].endswith("apply-abnormal-refund")]
        assert [r["wechatpay_serial"] for r in redirect] == [new_serial]
    finally:
        sim.stop()
