"""Agreement with code we did not write: the wechatpayv3 SDK against the simulator.

The SDK signs its own requests (the simulator must accept them), verifies the
simulator's response signatures (it raises if they fail) and decrypts the
simulator's notifications with ``callback()``.
"""

from __future__ import annotations

import json

import pytest

wechatpayv3 = pytest.importorskip("wechatpayv3", reason="install the plugin's [test] extra")


@pytest.fixture
def wxpay(keys, sim):
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=keys["WECHAT_MCHID"],
        private_key=keys["WECHAT_PRIVATE_KEY"],
        cert_serial_no=keys["WECHAT_CERT_SERIAL"],
        appid="wx0000000000000000",
        apiv3_key=keys["WECHAT_APIV3_KEY"],
        public_key=keys["WECHAT_PLATFORM_PUBLIC_KEY"],
        public_key_id=keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
        timeout=(5, 10),
    )
    # wechatpayv3 2.0.4 keeps the gateway base URL in Core._gate_way (no public setter)
    pay._core._gate_way = sim.url
    return pay


def test_sdk_refund_and_query_are_accepted_and_verified(wxpay, sim, new_trade):
    payment = new_trade(sim, 1000)
    code, text = wxpay.refund(
        out_refund_no="SDK-1",
        amount={"refund": 400, "total": 1000, "currency": "CNY"},
        transaction_id=payment.gateway_trade_id,
        reason="SDK 退款",
    )
    assert code == 200, text
    created = json.loads(text)
    assert (created["status"], created["amount"]["refund"]) == ("SUCCESS", 400)
    code, text = wxpay.query_refund(out_refund_no="SDK-1")
    assert code == 200
    assert json.loads(text)["refund_id"] == created["refund_id"]
    # the SDK repeating the same refund moves nothing more
    code, _ = wxpay.refund(
        out_refund_no="SDK-1",
        amount={"refund": 400, "total": 1000, "currency": "CNY"},
        transaction_id=payment.gateway_trade_id,
        reason="SDK 退款",
    )
    assert code == 200
    assert len(sim.movements(payment.gateway_trade_id)) == 1
    # errors come back with the gateway's code
    code, text = wxpay.refund(
        out_refund_no="SDK-2",
        amount={"refund": 601, "total": 1000, "currency": "CNY"},
        transaction_id=payment.gateway_trade_id,
    )
    assert (code, json.loads(text)["code"]) == (400, "NOT_ENOUGH")
    code, text = wxpay.query_refund(out_refund_no="SDK-missing")
    assert (code, json.loads(text)["code"]) == (404, "RESOURCE_NOT_EXISTS")


def test_sdk_rejects_a_simulator_signed_with_another_platform_key(keys, sim, new_trade):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=keys["WECHAT_MCHID"],
        private_key=keys["WECHAT_PRIVATE_KEY"],
        cert_serial_no=keys["WECHAT_CERT_SERIAL"],
        appid="wx0000000000000000",
        apiv3_key=keys["WECHAT_APIV3_KEY"],
        public_key=other.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
        public_key_id=keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
    )
    pay._core._gate_way = sim.url
    payment = new_trade(sim, 100)
    with pytest.raises(Exception, match="failed to verify the signature"):
        pay.refund(
            out_refund_no="SDK-3",
            amount={"refund": 100, "total": 100, "currency": "CNY"},
            transaction_id=payment.gateway_trade_id,
        )
    assert len(sim.movements(payment.gateway_trade_id)) == 1  # it did reach the gateway


def test_sdk_callback_decrypts_the_simulator_notification(
    wxpay, channel, sim, sink, new_trade, new_refund, wait_until
):
    payment = new_trade(sim, 880)
    request = new_refund(payment, 880, notify_url=sink.url)
    result = channel.execute_refund(request)
    [entry] = wait_until(sink.entries)
    data = wxpay.callback(entry["headers"], entry["body"])
    assert data is not None, "the SDK refused the simulator's notification"
    assert data["event_type"] == "REFUND.SUCCESS"
    resource = data["resource"]
    assert resource["out_refund_no"] == request.idempotency_key
    assert resource["refund_id"] == result.gateway_reference
    assert resource["refund_status"] == "SUCCESS"
    assert resource["amount"]["refund"] == 880
    assert resource["mchid"] == wxpay._mchid
    # and the SDK refuses a tampered one
    assert wxpay.callback(entry["headers"], entry["body"].replace(b"SUCCESS", b"CLOSED")) is None
