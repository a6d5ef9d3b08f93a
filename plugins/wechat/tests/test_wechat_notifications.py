"""Refund notifications: genuine ones decrypt, anything forged, stale or replayed is refused."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from refund_portal_wechat import crypto
from refund_portal_wechat.simulator import WechatSimulator

from portal.plugins.channels import NotificationRejected, ResultStatus

S = ResultStatus


@pytest.fixture
def platform_key(keys):
    return crypto.load_private_key(keys["WECHAT_PLATFORM_PRIVATE_KEY"])


@pytest.fixture
def genuine(channel, sim, sink, new_trade, new_refund, wait_until):
    """One real notification from the simulator, captured as received (not parsed)."""
    payment = new_trade(sim, 1500)
    request = new_refund(payment, 1200, notify_url=sink.url)
    assert channel.execute_refund(request).status is S.SUCCEEDED
    [entry] = wait_until(sink.entries)
    return request, payment, entry["headers"], entry["body"]


def resign(platform_key, serial, body, **kw):
    return crypto.signed_headers(platform_key, serial, body, **kw)


def test_genuine_notification_is_accepted_and_decrypted(
    channel, sim, sink, new_trade, new_refund, wait_until
):
    sink.channel = channel
    payment = new_trade(sim, 1500)
    request = new_refund(payment, 1200, notify_url=sink.url)
    result = channel.execute_refund(request)
    [note] = wait_until(sink.accepted)
    assert note.idempotency_key == request.idempotency_key
    assert note.status is S.SUCCEEDED
    assert note.amount_fen == 1200
    assert note.gateway_reference == result.gateway_reference
    assert note.gateway_trade_id == payment.gateway_trade_id
    assert note.raw["refund_status"] == "SUCCESS"
    [entry] = sink.entries()
    assert entry["status"] == 204
    envelope = json.loads(entry["body"])
    assert envelope["event_type"] == "REFUND.SUCCESS"
    assert b"1200" not in entry["body"]  # the amount travels encrypted
    # the simulator saw the 204 and stops there
    wait_until(sim.notifications)
    time.sleep(0.3)
    assert [d["status_code"] for d in sim.notifications()] == [204]


def test_parse_returns_204_reply(channel, genuine):
    request, _payment, headers, body = genuine
    note, reply = channel.parse_notification(headers, body)
    assert (reply.status_code, reply.body) == (204, b"")
    assert note.idempotency_key == request.idempotency_key


def test_forged_signature_is_rejected(channel, genuine):
    _request, _payment, headers, body = genuine
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = resign(impostor, headers["Wechatpay-Serial"], body)
    with pytest.raises(NotificationRejected, match="bad platform signature"):
        channel.parse_notification(forged, body)
    # a body changed after signing fails the same way
    changed = body.replace(b"REFUND.SUCCESS", b"REFUND.CLOSED")
    with pytest.raises(NotificationRejected, match="bad platform signature"):
        channel.parse_notification(headers, changed)
    # and the genuine one is still accepted: rejections do not burn its nonce
    assert channel.parse_notification(headers, body)[0].status is S.SUCCEEDED


def test_stale_timestamp_is_rejected(channel, genuine, platform_key):
    _request, _payment, headers, body = genuine
    serial = headers["Wechatpay-Serial"]
    for offset in (-400, 400):
        stale = resign(platform_key, serial, body, timestamp=int(time.time()) + offset)
        with pytest.raises(NotificationRejected, match="stale"):
            channel.parse_notification(stale, body)
    almost = resign(platform_key, serial, body, timestamp=int(time.time()) - 200)
    assert channel.parse_notification(almost, body)[0].amount_fen == 1200


def test_replayed_nonce_is_rejected(channel, genuine, platform_key):
    _request, _payment, headers, body = genuine
    channel.parse_notification(headers, body)
    with pytest.raises(NotificationRejected, match="replayed"):
        channel.parse_notification(headers, body)
    # same nonce, fresh signature: still a replay
    again = resign(
        platform_key, headers["Wechatpay-Serial"], body, nonce=headers["Wechatpay-Nonce"]
    )
    with pytest.raises(NotificationRejected, match="replayed"):
        channel.parse_notification(again, body)
    # a re-delivery signed afresh (new nonce) is accepted: duplicates are the core's job
    fresh = resign(platform_key, headers["Wechatpay-Serial"], body)
    assert channel.parse_notification(fresh, body)[0].status is S.SUCCEEDED


def test_replay_guard_from_settings_is_used(make_channel, sim, genuine):
    _request, _payment, headers, body = genuine
    seen = []

    class Guard:
        def first_seen(self, namespace, nonce, ttl_seconds):
            seen.append((namespace, nonce, ttl_seconds))
            return len(seen) == 1

    channel = make_channel(sim.url, replay_guard=Guard())
    channel.parse_notification(headers, body)
    with pytest.raises(NotificationRejected):
        channel.parse_notification(headers, body)
    assert seen[0][:2] == ("wechat", headers["Wechatpay-Nonce"])
    assert seen[0][2] >= 300


def test_wrong_serial_is_rejected(channel, genuine, platform_key):
    _request, _payment, _headers, body = genuine
    wrong = resign(platform_key, "PUB_KEY_ID_0199999999999999999999999999", body)
    with pytest.raises(NotificationRejected, match="serial"):
        channel.parse_notification(wrong, body)


def test_tampered_ciphertext_is_rejected(channel, genuine, platform_key):
    _request, _payment, headers, body = genuine
    envelope = json.loads(body)
    raw = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
    raw[10] ^= 0x80
    envelope["resource"]["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    tampered = json.dumps(envelope).encode()
    # validly signed by the platform, but the AEAD tag no longer matches
    signed = resign(platform_key, headers["Wechatpay-Serial"], tampered)
    with pytest.raises(NotificationRejected, match="decrypt"):
        channel.parse_notification(signed, tampered)


def test_malformed_and_foreign_notifications_are_rejected(keys, channel, genuine, platform_key):
    _request, _payment, headers, body = genuine
    serial = headers["Wechatpay-Serial"]
    envelope = json.loads(body)
    plain = json.loads(
        crypto.aes_gcm_decrypt(
            keys["WECHAT_APIV3_KEY"],
            envelope["resource"]["nonce"],
            envelope["resource"]["associated_data"],
            envelope["resource"]["ciphertext"],
        )
    )

    def with_plain(changes, event="REFUND.SUCCESS"):
        resource = dict(envelope["resource"])
        data = json.dumps({**plain, **changes}).encode()
        resource["ciphertext"] = crypto.aes_gcm_encrypt(
            keys["WECHAT_APIV3_KEY"], resource["nonce"], resource["associated_data"], data
        )
        out = json.dumps({**envelope, "event_type": event, "resource": resource}).encode()
        return resign(platform_key, serial, out), out

    cases = {
        "merchant": with_plain({"mchid": "1234567890"}),
        "contradicts": with_plain({"refund_status": "CLOSED"}),
        "amount.refund": with_plain({"amount": {"refund": "12.00"}}),
        "out_refund_no": with_plain({"out_refund_no": ""}),
        "event_type": with_plain({}, event="TRANSACTION.SUCCESS"),
    }
    not_json = b"<xml/>"
    cases["not JSON"] = (resign(platform_key, serial, not_json), not_json)
    for reason, (hdrs, data) in cases.items():
        with pytest.raises(NotificationRejected, match=reason):
            channel.parse_notification(hdrs, data)
    with pytest.raises(NotificationRejected, match="missing"):
        channel.parse_notification({}, body)


def test_simulator_forged_copy_is_refused_then_genuine_accepted(
    channel, sim, sink, new_trade, new_refund, wait_until
):
    sink.channel = channel
    sim.misbehave("notify_forged")
    payment = new_trade(sim, 100)
    channel.execute_refund(new_refund(payment, 100, notify_url=sink.url))
    wait_until(sink.accepted)
    forged, genuine = sink.entries()
    assert forged["status"] == 400
    assert "bad platform signature" in forged["rejected"]
    assert genuine["status"] == 204
    wait_until(lambda: len(sim.notifications()) >= 2)  # the simulator logs once it has our answer
    assert [(d["forged"], d["status_code"]) for d in sim.notifications()] == [
        (True, 400),
        (False, 204),
    ]


def test_simulator_notifies_twice_with_fresh_signatures(
    channel, sim, sink, new_trade, new_refund, wait_until
):
    sink.channel = channel
    sim.misbehave("notify_twice")
    payment = new_trade(sim, 100)
    request = new_refund(payment, 100, notify_url=sink.url)
    channel.execute_refund(request)
    first, second = wait_until(lambda: len(sink.accepted()) == 2 and sink.accepted())
    assert first.idempotency_key == second.idempotency_key == request.idempotency_key
    nonces = {e["headers"]["Wechatpay-Nonce"] for e in sink.entries()}
    assert len(nonces) == 2
    assert (
        json.loads(sink.entries()[0]["body"])["id"] == json.loads(sink.entries()[1]["body"])["id"]
    )


def test_simulator_retries_until_acknowledged(
    channel, sim, sink, new_trade, new_refund, wait_until
):
    sink.channel = channel
    sink.fail_first = 2
    payment = new_trade(sim, 100)
    channel.execute_refund(new_refund(payment, 100, notify_url=sink.url))
    wait_until(sink.accepted)
    assert [e["status"] for e in sink.entries()] == [500, 500, 204]
    wait_until(lambda: len(sim.notifications()) >= 3)
    assert [d["attempt"] for d in sim.notifications()] == [1, 2, 3]


def test_simulator_late_notification_arrives_after_the_query(
    keys_dir, make_channel, sink, new_trade, new_refund, wait_until
):
    with WechatSimulator(keys_dir, notify_late_delay_s=0.5) as sim:
        channel = make_channel(sim.url)
        sink.channel = channel
        sim.misbehave("notify_late")
        payment = new_trade(sim, 100)
        request = new_refund(payment, 100, notify_url=sink.url)
        channel.execute_refund(request)
        assert channel.query_refund(request).status is S.SUCCEEDED
        assert sink.entries() == []
        [note] = wait_until(sink.accepted)
        assert note.status is S.SUCCEEDED


def test_abnormal_notification(channel, sim, sink, new_trade, new_refund, wait_until):
    sink.channel = channel
    sim.misbehave("abnormal")
    payment = new_trade(sim, 100)
    channel.execute_refund(new_refund(payment, 100, notify_url=sink.url))
    [note] = wait_until(sink.accepted)
    assert note.status is S.ABNORMAL
    assert note.raw["refund_status"] == "ABNORMAL"
    assert json.loads(sink.entries()[0]["body"])["event_type"] == "REFUND.ABNORMAL"


def test_settle_delay_notifies_after_settling(
    keys_dir, make_channel, sink, new_trade, new_refund, wait_until
):
    with WechatSimulator(keys_dir, settle_delay_s=0.3) as sim:
        channel = make_channel(sim.url)
        sink.channel = channel
        payment = new_trade(sim, 100)
        request = new_refund(payment, 100, notify_url=sink.url)
        assert channel.execute_refund(request).status is S.PENDING
        [note] = wait_until(sink.accepted)
        assert note.status is S.SUCCEEDED
        assert channel.query_refund(request).status is S.SUCCEEDED
