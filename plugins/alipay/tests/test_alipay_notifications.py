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

from portal.channels import NotificationRejected, PaymentRef, RefundRequest, ResultStatus

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
    receiver.wait(1)
    assert receiver.accepted == [] and receiver.rejected[0] == "bad signature"


def _signed(sim, **over):
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
    key = signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    p["sign"] = signing.sign(signing.string_to_sign(p, ("sign", "sign_type")), key)
    return urlencode(p).encode()


def test_replayed_stale_other_app_and_garbage_are_rejected(channel, sim):
    body = _signed(sim)
    note, reply = channel.parse_notification({}, body)
    assert note.amount_fen == 100 and reply.body == b"success"
    with pytest.raises(NotificationRejected, match="replayed"):
        channel.parse_notification({}, body)
    old = (datetime.now(ZoneInfo("Asia/Shanghai")) - timedelta(hours=2)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    with pytest.raises(NotificationRejected, match="stale"):
        channel.parse_notification({}, _signed(sim, notify_time=old, notify_id="n2"))
    with pytest.raises(NotificationRejected, match="another app_id"):
        channel.parse_notification({}, _signed(sim, app_id="999", notify_id="n3"))
    with pytest.raises(NotificationRejected):
        channel.parse_notification({}, b"\xff\xfe not a form")
    tampered = _signed(sim, notify_id="n4").replace(b"send_back_fee=1.00", b"send_back_fee=99.00")
    with pytest.raises(NotificationRejected, match="bad signature"):
        channel.parse_notification({}, tampered)
