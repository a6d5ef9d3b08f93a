"""WechatChannel against the simulator over real HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from refund_portal_wechat.simulator import WechatSimulator

from portal.plugins.channels import ArrivalWindow, RefundRequest, ResultStatus

S = ResultStatus


def test_identity_and_arrival(channel, sim, new_trade):
    payment = new_trade(sim, 100)
    assert channel.id == "wechat"
    assert (channel.label.zh, channel.label.en) == ("微信支付", "WeChat Pay")
    assert channel.arrival(payment) == ArrivalWindow("working_days", 0, 2)


def test_full_refund(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 2599)
    request = new_refund(payment, 2599, reason="卡密无效", notify_url="http://127.0.0.1:9/n")
    result = channel.execute_refund(request)
    assert result.status is S.SUCCEEDED, result
    assert result.amount_fen == 2599
    assert result.gateway_reference.startswith("50")
    [movement] = sim.movements(payment.gateway_trade_id)
    assert movement["amount_fen"] == 2599
    assert movement["out_refund_no"] == request.idempotency_key
    assert movement["refund_id"] == result.gateway_reference
    query = channel.query_refund(request)
    assert (query.status, query.gateway_reference) == (S.SUCCEEDED, result.gateway_reference)


def test_partial_refund_then_two_partials_reach_the_total(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 1000)
    first = channel.execute_refund(new_refund(payment, 300))
    second = channel.execute_refund(new_refund(payment, 700))
    assert (first.status, second.status) == (S.SUCCEEDED, S.SUCCEEDED)
    assert first.gateway_reference != second.gateway_reference
    assert sum(m["amount_fen"] for m in sim.movements(payment.gateway_trade_id)) == 1000
    extra = channel.execute_refund(new_refund(payment, 1))
    assert (extra.status, extra.code) == (S.FAILED, "NOT_ENOUGH")
    assert len(sim.movements(payment.gateway_trade_id)) == 2


def test_over_refund_is_refused(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 500)
    assert channel.execute_refund(new_refund(payment, 400)).status is S.SUCCEEDED
    over = channel.execute_refund(new_refund(payment, 101))
    assert over.status is S.FAILED
    assert over.code == "NOT_ENOUGH"
    assert over.message
    # a refund claiming more than the trade's total is refused before any ledger check
    bigger = payment.__class__("wechat", payment.gateway_trade_id, payment.merchant_trade_no, 900)
    wrong_total = channel.execute_refund(new_refund(bigger, 600))
    assert (wrong_total.status, wrong_total.code) == (S.FAILED, "INVALID_REQUEST")
    assert [m["amount_fen"] for m in sim.movements(payment.gateway_trade_id)] == [400]


def test_same_key_twice_moves_money_once(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 800)
    request = new_refund(payment, 800, reason="重复提交")
    first = channel.execute_refund(request)
    again = channel.execute_refund(request)
    assert first.status is again.status is S.SUCCEEDED
    assert again.gateway_reference == first.gateway_reference
    assert len(sim.movements(payment.gateway_trade_id)) == 1
    assert sim.ledger.refunded_fen(payment.gateway_trade_id) == 800


def test_same_key_different_amount_fails(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 800)
    assert channel.execute_refund(new_refund(payment, 300, key="SAMEKEY-1")).status is S.SUCCEEDED
    changed = channel.execute_refund(new_refund(payment, 301, key="SAMEKEY-1"))
    assert (changed.status, changed.code) == (S.FAILED, "INVALID_REQUEST")
    assert [m["amount_fen"] for m in sim.movements(payment.gateway_trade_id)] == [300]


def test_refund_by_out_trade_no(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 120)
    by_ours = payment.__class__("wechat", "", payment.merchant_trade_no, 120)
    assert channel.refund_body(new_refund(by_ours, 20))["out_trade_no"] == payment.merchant_trade_no
    result = channel.execute_refund(new_refund(by_ours, 20))
    assert result.status is S.SUCCEEDED
    assert result.raw["transaction_id"] == payment.gateway_trade_id


def test_unknown_trade_fails(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 100)
    ghost = payment.__class__("wechat", "4200000000ghost", "nope", 100)
    result = channel.execute_refund(new_refund(ghost, 100))
    assert (result.status, result.code) == (S.FAILED, "RESOURCE_NOT_EXISTS")
    assert sim.movements() == []


def test_system_error_is_unknown_then_resolved_with_the_same_key(
    channel, sim, new_trade, new_refund
):
    payment = new_trade(sim, 650)
    request = new_refund(payment, 650)
    sim.misbehave("system_error")
    first = channel.execute_refund(request)
    assert (first.status, first.code) == (S.UNKNOWN, "SYSTEM_ERROR")
    assert sim.movements() == []
    query = channel.query_refund(request)
    assert (query.status, query.code) == (S.PENDING, "NOT_FOUND")
    retry = channel.execute_refund(request)
    assert retry.status is S.SUCCEEDED
    assert channel.query_refund(request).status is S.SUCCEEDED
    assert len(sim.movements(payment.gateway_trade_id)) == 1


def test_timeout_after_move_is_unknown_then_query_succeeds(
    keys_dir, make_channel, new_trade, new_refund
):
    with WechatSimulator(keys_dir, hang_s=15.0) as sim:
        payment = new_trade(sim, 990)
        request = new_refund(payment, 990)
        sim.misbehave("timeout_after_move")
        impatient = make_channel(sim.url, timeout=1.0)
        started = time.monotonic()
        first = impatient.execute_refund(request)
        assert time.monotonic() - started < 10
        assert (first.status, first.code) == (S.UNKNOWN, "TIMEOUT")
        query = make_channel(sim.url).query_refund(request)
        assert query.status is S.SUCCEEDED
        assert query.amount_fen == 990
        assert len(sim.movements(payment.gateway_trade_id)) == 1
        # re-sending with the same key does not pay twice either
        assert impatient.execute_refund(request).status is S.SUCCEEDED
        assert len(sim.movements(payment.gateway_trade_id)) == 1


def test_settle_delay_pending_then_succeeded_by_query(
    keys_dir, make_channel, new_trade, new_refund, wait_until
):
    with WechatSimulator(keys_dir, settle_delay_s=0.4) as sim:
        channel = make_channel(sim.url)
        payment = new_trade(sim, 300)
        request = new_refund(payment, 300)
        first = channel.execute_refund(request)
        assert (first.status, first.raw["status"]) == (S.PENDING, "PROCESSING")
        assert "success_time" not in first.raw
        done = wait_until(lambda: (r := channel.query_refund(request)).status is S.SUCCEEDED and r)
        assert done.raw["success_time"]
        assert done.gateway_reference == first.gateway_reference
        assert len(sim.movements(payment.gateway_trade_id)) == 1


def test_abnormal_refund_is_held_not_failed(channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 450)
    request = new_refund(payment, 450)
    sim.misbehave("abnormal")
    result = channel.execute_refund(request)
    assert (result.status, result.code) == (S.ABNORMAL, "ABNORMAL")
    assert "apply-abnormal-refund" in result.message
    query = channel.query_refund(request)
    assert (query.status, query.code) == (S.ABNORMAL, "ABNORMAL")
    # only the next refund was abnormal
    assert channel.execute_refund(new_refund(new_trade(sim, 10), 10)).status is S.SUCCEEDED


def test_frequency_limit_is_unknown(keys_dir, make_channel, new_trade, new_refund):
    with WechatSimulator(keys_dir, min_refund_interval_s=60) as sim:
        channel = make_channel(sim.url)
        payment = new_trade(sim, 1000)
        assert channel.execute_refund(new_refund(payment, 100)).status is S.SUCCEEDED
        limited = channel.execute_refund(new_refund(payment, 100))
        assert (limited.status, limited.code) == (S.UNKNOWN, "FREQUENCY_LIMITED")
        assert len(sim.movements()) == 1


def test_unreachable_gateway_is_unknown(make_channel, sim, new_trade, new_refund):
    payment = new_trade(sim, 100)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = make_channel(f"http://127.0.0.1:{port}").execute_refund(new_refund(payment, 100))
    assert (result.status, result.code) == (S.UNKNOWN, "CONNECTION_ERROR")


def test_unverifiable_answer_is_unknown_even_when_money_moved(
    keys, make_channel, sim, new_trade, new_refund
):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = other.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    suspicious = make_channel(sim.url, platform_public_key=pem)
    payment = new_trade(sim, 100)
    request = new_refund(payment, 100)
    result = suspicious.execute_refund(request)
    assert (result.status, result.code) == (S.UNKNOWN, "UNVERIFIED_RESPONSE")
    # an unverifiable refusal is not believed either
    refused = suspicious.execute_refund(new_refund(payment, 100))
    assert (refused.status, refused.code) == (S.UNKNOWN, "UNVERIFIED_RESPONSE")
    wrong_id = make_channel(sim.url, platform_public_key_id="PUB_KEY_ID_0000")
    assert wrong_id.query_refund(request).code == "UNVERIFIED_RESPONSE"
    assert make_channel(sim.url).query_refund(request).status is S.SUCCEEDED


def test_bad_merchant_signature_is_refused_by_the_gateway(make_channel, sim, new_trade, new_refund):
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = impostor.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    payment = new_trade(sim, 100)
    result = make_channel(sim.url, private_key=pem).execute_refund(new_refund(payment, 100))
    assert (result.status, result.code) == (S.FAILED, "SIGN_ERROR")
    other_mch = make_channel(sim.url, mchid="1234567890").execute_refund(new_refund(payment, 1))
    assert other_mch.code == "SIGN_ERROR"
    assert sim.movements() == []


def test_retry_sends_byte_identical_body(channel, sim, new_trade):
    payment = new_trade(sim, 100)
    request = RefundRequest("K-1", payment, 50, reason="r", notify_url="http://127.0.0.1:9/n")
    body = channel.refund_body(request)
    assert body == {
        "transaction_id": payment.gateway_trade_id,
        "out_refund_no": "K-1",
        "reason": "r",
        "notify_url": "http://127.0.0.1:9/n",
        "amount": {"refund": 50, "total": 100, "currency": "CNY"},
    }
    assert channel.refund_body(request) == body


@pytest.mark.parametrize("key", ["weird key/with?chars", "号码-1"])
def test_query_escapes_the_key_in_the_signed_path(channel, sim, new_trade, new_refund, key):
    payment = new_trade(sim, 100)
    result = channel.query_refund(new_refund(payment, 10, key=key))
    assert (result.status, result.code) == (S.PENDING, "NOT_FOUND")
