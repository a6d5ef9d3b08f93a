"""Notifications from the simulator: genuine accepted; forged, tampered, stale, replayed refused."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from refund_portal_alipay import signing
from werkzeug.serving import make_server

from portal.plugins.channels import NotificationRejected, PaymentRef, RefundRequest, ResultStatus

PAYMENT = PaymentRef("alipay", "2026112822001", "PAY-1", 10000)


class Receiver:
    """A local HTTP endpoint that hands each notification to the channel, like the portal."""

    def __init__(self, channel) -> None:
        self.channel = channel
        self.accepted, self.rejected = [], []
        self._server = make_server("127.0.0.1", 0, self.app)
        self.url = f"http://127.0.0.1:{self._server.server_port}/callbacks/alipay"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        try:
            note, reply = self.channel.parse_notification({}, body)
            self.accepted.append(note)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [reply.body]
        except NotificationRejected as exc:
            self.rejected.append(str(exc))
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"rejected"]

    def wait(self, n: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) + len(self.rejected) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self):
        self._server.shutdown()


@pytest.fixture
def receiver(channel):
    r = Receiver(channel)
    yield r
    r.close()


def refund(channel, receiver, key="K1", amount=3000):
    return channel.execute_refund(RefundRequest(key, PAYMENT, amount, notify_url=receiver.url))


def test_genuine_notification_is_accepted(channel, sim, receiver):
    refund(channel, receiver)
    receiver.wait(1)
    [note] = receiver.accepted
    assert note.idempotency_key == "K1" and note.status == ResultStatus.SUCCEEDED
    assert note.amount_fen == 3000 and note.gateway_trade_id == "2026112822001"
    deadline = time.monotonic() + 5  # the simulator logs the delivery once our answer is back
    while not sim.notifications() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sim.notifications()[-1]["answer"] == "success"


def test_notify_twice_delivers_two_genuine_copies(channel, sim, receiver):
    sim.misbehave("notify_twice")
    refund(channel, receiver)
    receiver.wait(2)
    assert (
        len(receiver.accepted) == 2
        and receiver.accepted[0].idempotency_key == receiver.accepted[1].idempotency_key
    )


def test_late_notification_still_arrives(channel, sim, receiver):
    sim.misbehave("notify_late")
    refund(channel, receiver)
    time.sleep(0.2)
    assert receiver.accepted == []
    receiver.wait(1)
    assert len(receiver.accepted) == 1


def test_forged_notification_is_rejected_and_retried(channel, sim, receiver):
    sim.misbehave("notify_forged")
    refund(channel, receiver)
    receiver.wait(2)  # refused with a 400, so the gateway sends it again
    assert receiver.accepted == [] and receiver.rejected[:2] == ["bad signature"] * 2


def _signed(sim, _key=None, **over):
    p = {
        "notify_time": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S"),
        "notify_id": "n1",
        "app_id": sim.keys["ALIPAY_APP_ID"],
        "trade_no": "2026112822001",
        "out_trade_no": "PAY-1",
        "out_biz_no": "K9",
        "send_back_fee": "1.00",
        "gmt_refund": "2026-11-28 12:00:00",
        "sign_type": "RSA2",
    }
    p.update(over)
    p = {k: v for k, v in p.items() if v != ""}
    key = _key or signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    p["sign"] = signing.sign(signing.string_to_sign(p, ("sign", "sign_type")), key)
    return urlencode(p).encode()


def _ago(**delta) -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(**delta)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def test_genuine_signed_notification_is_parsed(channel, sim):
    note, reply = channel.parse_notification({}, _signed(sim))
    assert (note.idempotency_key, note.status, note.amount_fen) == (
        "K9",
        ResultStatus.SUCCEEDED,
        100,
    )
    assert note.gateway_reference == note.gateway_trade_id == "2026112822001"
    assert (reply.status_code, reply.body) == (200, b"success")


def test_replayed_notify_id_is_rejected(channel, sim):
    body = _signed(sim)
    channel.parse_notification({}, body)
    with pytest.raises(NotificationRejected, match="replayed"):
        channel.parse_notification({}, body)
    # a fresh copy, newly signed, that reuses the notify_id is a replay too
    with pytest.raises(NotificationRejected, match="replayed"):
        channel.parse_notification({}, _signed(sim, notify_time=_ago(seconds=1)))


def test_the_replay_guard_from_the_services_is_shared_between_channels(sim, tmp_path):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices, MemoryReplayGuard

    services = ChannelServices(MemoryReplayGuard(), dev_keys_dir=str(tmp_path / "keys"))
    one = channel_from_settings({"ALIPAY_GATEWAY_URL": sim.url}, services)
    two = channel_from_settings({"ALIPAY_GATEWAY_URL": sim.url}, services)
    body = _signed(sim, notify_id="shared")
    one.parse_notification({}, body)
    with pytest.raises(NotificationRejected, match="replayed"):
        two.parse_notification({}, body)


def test_stale_notification_is_rejected_after_24_hours(channel, sim):
    assert channel.parse_notification({}, _signed(sim, notify_time=_ago(hours=23), notify_id="a"))
    with pytest.raises(NotificationRejected, match="stale"):
        channel.parse_notification({}, _signed(sim, notify_time=_ago(hours=25), notify_id="b"))


def test_freshness_window_is_configurable(sim, tmp_path):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices

    strict = channel_from_settings(
        {"ALIPAY_GATEWAY_URL": sim.url, "ALIPAY_NOTIFY_MAX_AGE": "60"},
        ChannelServices(dev_keys_dir=str(tmp_path / "keys")),
    )
    with pytest.raises(NotificationRejected, match="stale"):
        strict.parse_notification({}, _signed(sim, notify_time=_ago(minutes=2)))


def test_tampered_amount_is_rejected(channel, sim):
    tampered = _signed(sim).replace(b"send_back_fee=1.00", b"send_back_fee=99.00")
    with pytest.raises(NotificationRejected, match="bad signature"):
        channel.parse_notification({}, tampered)


def test_forged_signature_is_rejected(channel, sim):
    impostor = signing.load_private(sim.keys["ALIPAY_APP_PRIVATE_KEY"])  # not Alipay's key
    with pytest.raises(NotificationRejected, match="bad signature"):
        channel.parse_notification({}, _signed(sim, _key=impostor))
    # and a rejected forgery does not use up the notify_id of the genuine notification
    note, _ = channel.parse_notification({}, _signed(sim))
    assert note.idempotency_key == "K9"


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"app_id": "2021999999999999"}, "another app_id"),
        ({"notify_time": "yesterday"}, "notify_time"),
        ({"out_biz_no": ""}, "names no refund"),
        ({"notify_id": ""}, "no notify_id"),
        ({"send_back_fee": "1.001"}, "malformed amount"),
        ({"sign_type": "RSA"}, "sign_type"),
    ],
)
def test_malformed_or_foreign_notifications_are_rejected(channel, sim, over, reason):
    with pytest.raises(NotificationRejected, match=reason):
        channel.parse_notification({}, _signed(sim, **over))


def test_notification_from_the_future_is_rejected(channel, sim):
    with pytest.raises(NotificationRejected, match="future"):
        channel.parse_notification({}, _signed(sim, notify_time=_ago(minutes=-30)))


@pytest.mark.parametrize("body", [b"", b"\xff\xfe not a form", b"a=1&b=2"])
def test_garbage_is_rejected(channel, body):
    with pytest.raises(NotificationRejected):
        channel.parse_notification({}, body)
