"""Agreement with code we did not write: the wechatpayv3 SDK against the simulator.

The SDK signs its own requests (the simulator must accept them), verifies the
simulator's response signatures (it raises if they fail) and decrypts the
simulator's notifications with ``callback()``.
"""

from __future__ import annotations

import json

import pytest
from refund_portal_wechat.simulator import WechatSimulator

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


# -- platform-certificate and switching modes -------------------------------------------------


def _sdk(keys, url, cert_dir=None, **kw):
    pay = wechatpayv3.WeChatPay(
        wechatpay_type=wechatpayv3.WeChatPayType.NATIVE,
        mchid=keys["WECHAT_MCHID"],
        private_key=keys["WECHAT_PRIVATE_KEY"],
        cert_serial_no=keys["WECHAT_CERT_SERIAL"],
        appid="wx0000000000000000",
        apiv3_key=keys["WECHAT_APIV3_KEY"],
        cert_dir=cert_dir,
        timeout=(5, 10),
        **kw,
    )
    pay._core._gate_way = url
    return pay


@pytest.fixture
def sim_in(keys_dir):
    started = []

    def start(mode):
        started.append(WechatSimulator(keys_dir, hang_s=5.0, key_mode=mode).start())
        return started[-1]

    yield start
    for s in started:
        s.stop()


def test_sdk_certificate_mode_downloads_decrypts_and_verifies(
    keys, sim_in, tmp_path, new_trade, new_refund, sink, make_channel, wait_until
):
    sim = sim_in("platform_cert")
    # wechatpayv3 downloads from the real gateway while it is being built unless a certificate
    # is on disk: give it one, then have it download again, from the simulator
    current = sim.gateway_keys.current_certificate
    (tmp_path / f"{current.signer.serial}.pem").write_text(current.pem)
    pay = _sdk(keys, sim.url, cert_dir=str(tmp_path))
    pay._core._certificates.clear()
    pay._core._update_certificates()  # GET /v3/certificates, decrypted with the APIv3 key
    assert [f"{c.serial_number:X}" for c in pay._core._certificates] == [current.signer.serial]
    payment = new_trade(sim, 600)
    code, text = pay.refund(
        out_refund_no="SDK-C1",
        amount={"refund": 600, "total": 600, "currency": "CNY"},
        transaction_id=payment.gateway_trade_id,
    )  # the SDK raises unless the answer verifies with the downloaded certificate
    assert code == 200 and json.loads(text)["status"] == "SUCCESS"
    # after a rotation the SDK finds the new certificate in the simulator's list
    new_serial = sim.rotate_certificate()
    code, text = pay.query_refund(out_refund_no="SDK-C1")
    assert code == 200
    assert new_serial in {f"{c.serial_number:X}" for c in pay._core._certificates}
    # a notification our channel accepts, the SDK accepts too
    channel = make_channel(
        sim.url,
        platform_public_key=None,
        platform_public_key_id=None,
        key_mode="platform_cert",
        trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
    )
    sink.channel = channel
    channel.execute_refund(new_refund(new_trade(sim, 300), 300, notify_url=sink.url))
    [entry] = wait_until(sink.entries)
    assert entry["status"] == 204
    assert pay.callback(entry["headers"], entry["body"])["resource"]["refund_status"] == "SUCCESS"


def test_sdk_switching_mode_sends_the_public_key_id_and_verifies_both_keys(
    keys, sim_in, new_trade, new_refund, sink, make_channel, wait_until
):
    sim = sim_in("cert_and_public_key")
    pay = _sdk(
        keys,
        sim.url,
        public_key=keys["WECHAT_PLATFORM_PUBLIC_KEY"],
        public_key_id=keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
    )
    payment = new_trade(sim, 1000)
    code, _text = pay.refund(
        out_refund_no="SDK-S1",
        amount={"refund": 100, "total": 1000, "currency": "CNY"},
        transaction_id=payment.gateway_trade_id,
    )
    assert code == 200
    sdk_serials = {r["wechatpay_serial"] for r in sim.requests()}
    assert sdk_serials == {keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"]}  # as our channel sends
    channel = make_channel(
        sim.url, key_mode="cert_and_public_key", trust_chain=keys["WECHAT_PLATFORM_CERT_CA"]
    )
    sink.channel = channel
    for _ in range(2):  # one signed with the certificate, one with the public key
        channel.execute_refund(new_refund(payment, 100, notify_url=sink.url))
    entries = wait_until(lambda: len(sink.entries()) == 2 and sink.entries())
    assert {e["headers"]["Wechatpay-Serial"] for e in entries} == {
        keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
        sim.gateway_keys.current_certificate.signer.serial,
    }
    for entry in entries:
        assert entry["status"] == 204
        data = pay.callback(entry["headers"], entry["body"])  # downloads certificates as needed
        assert data is not None and data["resource"]["refund_status"] == "SUCCESS"


def test_sdk_public_key_mode_with_a_wrong_key_id_is_refused_by_the_simulator(keys, sim_in):
    sim = sim_in("public_key")
    pay = _sdk(
        keys,
        sim.url,
        public_key=keys["WECHAT_PLATFORM_PUBLIC_KEY"],
        public_key_id="PUB_KEY_ID_0100000000000000000000000000",
    )
    code, text = pay.query_refund(out_refund_no="SDK-X")
    assert (code, json.loads(text)["code"]) == (400, "INVALID_REQUEST")
