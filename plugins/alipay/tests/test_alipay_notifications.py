"""Notifications: sent where Alipay sends them, forwarded by the shop, confirmed by query.

Alipay sends a refund's ``trade_status_sync`` to the *payment's* notify_url, which is the
shop's; the shop forwards the exact body, and the channel verifies Alipay's signature and
confirms the refund with ``alipay.trade.fastpay.refund.query`` (no documented notification
field holds the refund's own amount). Forged, tampered, stale and malformed ones are
refused; a repeated notify_id is acknowledged with nothing to apply.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo

import pytest
import requests
from refund_portal_alipay import signing
from werkzeug.serving import make_server

from portal.plugins.channels import NotificationRejected, PaymentRef, RefundRequest, ResultStatus

PAYMENT = PaymentRef("alipay", "2026112822001", "PAY-1", 10000)
CHINA = ZoneInfo("Asia/Shanghai")
#: the fields Alipay documents for the asynchronous notification of a trade (退款 included)
DOCUMENTED = {
    "notify_time", "notify_type", "notify_id", "app_id", "charset", "version", "sign_type",
    "sign", "trade_no", "out_trade_no", "out_biz_no", "buyer_id", "buyer_logon_id",
    "seller_id", "seller_email", "trade_status", "total_amount", "receipt_amount",
    "invoice_amount", "buyer_pay_amount", "point_amount", "refund_fee", "subject", "body",
    "gmt_create", "gmt_payment", "gmt_refund", "gmt_close", "fund_bill_list",
    "passback_params", "voucher_detail_list",
}  # fmt: skip


class Server:
    """A local HTTP endpoint running ``handle(body) -> (status, text)`` for each POST."""

    def __init__(self, handle, path: str) -> None:
        self.handle, self.bodies = handle, []
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}{path}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        self.bodies.append(body)
        status, text = self.handle(body)
        start_response(f"{status} X", [("Content-Type", "text/plain")])
        return [text]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Portal(Server):
    """``/callbacks/alipay`` as the portal runs it: the channel parses, the answer goes back."""

    def __init__(self, channel) -> None:
        self.channel, self.accepted, self.rejected = channel, [], []
        super().__init__(self.parse, "/callbacks/alipay")

    def parse(self, body: bytes) -> tuple[int, bytes]:
        try:
            note, reply = self.channel.parse_notification({}, body)
        except NotificationRejected as exc:
            self.rejected.append(str(exc))
            return 400, b"rejected"
        self.accepted.append(note)
        return reply.status_code, reply.body

    def wait(self, n: int, timeout: float = 8.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) + len(self.rejected) < n and time.monotonic() < deadline:
            time.sleep(0.02)


class Shop(Server):
    """The shop's payment notify_url: forwards the exact body to the portal, and answers
    Alipay ``success`` once the portal has taken it (the documented forwarding path)."""

    def __init__(self, portal_url: str) -> None:
        super().__init__(self.forward, "/alipay/notify")
        self.portal_url = portal_url

    def forward(self, body: bytes) -> tuple[int, bytes]:
        resp = requests.post(
            self.portal_url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            timeout=10,
        )
        return (200, b"success") if resp.ok else (500, b"fail")


@pytest.fixture
def portal(channel):
    p = Portal(channel)
    yield p
    p.close()


@pytest.fixture
def shop(portal, sim):
    s = Shop(portal.url)
    sim.reset()
    sim.add_trade("2026112822001", "PAY-1", 10000, notify_url=s.url)
    yield s
    s.close()


def refund(channel, key="K1", amount=3000, notify_url=""):
    return channel.execute_refund(RefundRequest(key, PAYMENT, amount, notify_url=notify_url))


def _delivered(sim, n: int = 1, timeout: float = 8.0) -> list[dict]:
    """The simulator's delivery log once ``n`` deliveries are in it."""
    deadline = time.monotonic() + timeout
    while len(sim.notifications()) < n and time.monotonic() < deadline:
        time.sleep(0.02)
    return sim.notifications()


def test_alipay_notifies_the_payments_address_and_the_shop_forwards_it(channel, sim, shop, portal):
    # the refund request names another address: Alipay ignores it (and the channel sends none)
    elsewhere = Server(lambda body: (200, b"success"), "/elsewhere")
    try:
        refund(channel, notify_url=elsewhere.url)
        portal.wait(1)
        [note] = portal.accepted
        assert note.idempotency_key == "K1" and note.status == ResultStatus.SUCCEEDED
        assert note.amount_fen == 3000  # from the refund query, not from the notification
        assert note.gateway_trade_id == "2026112822001"
        [delivery] = _delivered(sim)
        assert delivery["url"] == shop.url and delivery["answer"] == "success"
        assert elsewhere.bodies == []
    finally:
        elsewhere.close()
    forwarded = dict(parse_qsl(portal.bodies[0].decode()))
    assert portal.bodies == shop.bodies  # the exact body Alipay signed
    assert set(forwarded) <= DOCUMENTED and "send_back_fee" not in forwarded
    assert forwarded["refund_fee"] == "30.00"  # the trade's running total
    assert note.raw["query"]["refund_amount"] == "30.00"


def test_refund_fee_is_the_running_total_and_never_the_refunds_amount(channel, sim, shop, portal):
    refund(channel, "K1", 1000)
    portal.wait(1)
    refund(channel, "K2", 500)
    portal.wait(2)
    second = portal.accepted[1]
    assert second.raw["notification"]["refund_fee"] == "15.00"
    assert (second.idempotency_key, second.amount_fen) == ("K2", 500)


def test_notify_twice_is_one_effect_and_one_acknowledged_duplicate(channel, sim, shop, portal):
    sim.misbehave("notify_twice")
    refund(channel)
    portal.wait(2)
    first, again = portal.accepted
    assert first.raw["notification"]["notify_id"] == again.raw["notification"]["notify_id"]
    assert first.status == ResultStatus.SUCCEEDED and first.amount_fen == 3000
    assert again.status == ResultStatus.PENDING and again.amount_fen is None  # nothing to apply
    assert [d["answer"] for d in _delivered(sim, 2)] == ["success", "success"]


def test_late_notification_still_arrives(channel, sim, shop, portal):
    sim.misbehave("notify_late")
    refund(channel)
    assert portal.accepted == []  # 0.5 s late: not there when the refund answers
    portal.wait(1)
    assert len(portal.accepted) == 1


def test_forged_notification_is_rejected_and_retried(channel, sim, shop, portal):
    sim.misbehave("notify_forged")
    refund(channel)
    portal.wait(2)  # refused, so the shop answers Alipay "fail" and Alipay sends it again
    assert portal.accepted == [] and portal.rejected[:2] == ["bad signature"] * 2


def test_bank_card_completion_message_is_verified_and_applied_once(sim, tmp_path, portal):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices

    card = channel_from_settings(
        {"ALIPAY_GATEWAY_URL": sim.url, "ALIPAY_DEPOSIT_BACK": "true"},
        ChannelServices(dev_keys_dir=str(tmp_path / "keys")),
    )
    portal.channel = card
    sim.set_app_gateway(portal.url)  # the app's gateway address (应用网关)
    sim.add_trade("2026112822777", "PAY-CARD", 5000, bank_card=True)
    payment = PaymentRef("alipay", "2026112822777", "PAY-CARD", 5000)
    assert card.refund_biz(RefundRequest("C1", payment, 5000))["query_options"] == [
        "deposit_back_info"
    ]
    assert card.execute_refund(RefundRequest("C1", payment, 5000)).status == ResultStatus.SUCCEEDED
    portal.wait(1)
    [note] = portal.accepted
    assert note.raw["notification"]["msg_method"] == "alipay.trade.refund.depositback.completed"
    assert (note.idempotency_key, note.status, note.amount_fen) == ("C1", "succeeded", 5000)
    assert note.raw["query"]["deposit_back_info"]["dback_status"] == "S"
    again, _ = card.parse_notification({}, portal.bodies[0])  # the same message again
    assert again.status == ResultStatus.PENDING and again.amount_fen is None


# -- one notification at a time, signed like Alipay ---------------------------------------


@pytest.fixture
def refunded(channel, sim):
    """A refund K9 of 21.00 that Alipay has made."""
    assert refund(channel, "K9", 2100).status == ResultStatus.SUCCEEDED


def _signed(sim, _key=None, **over):
    """A trade_status_sync with only documented fields, about refund K9."""
    p = {
        "notify_time": datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
        "notify_type": "trade_status_sync",
        "notify_id": "n1",
        "app_id": sim.keys["ALIPAY_APP_ID"],
        "charset": "utf-8",
        "version": "1.0",
        "trade_no": "2026112822001",
        "out_trade_no": "PAY-1",
        "out_biz_no": "K9",
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "100.00",
        "refund_fee": "21.00",
        "gmt_refund": "2026-11-28 12:00:00.000",
        "sign_type": "RSA2",
    }
    p.update(over)
    p = {k: v for k, v in p.items() if v != ""}
    key = _key or signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    p["sign"] = signing.sign(signing.string_to_sign(p, ("sign", "sign_type")), key)
    return urlencode(p).encode()


def _ago(**delta) -> str:
    return (datetime.now(CHINA) - timedelta(**delta)).strftime("%Y-%m-%d %H:%M:%S")


def test_genuine_signed_notification_is_confirmed_by_query(channel, sim, refunded):
    note, reply = channel.parse_notification({}, _signed(sim))
    assert (note.idempotency_key, note.status, note.amount_fen) == ("K9", "succeeded", 2100)
    assert note.gateway_reference == note.gateway_trade_id == "2026112822001"
    assert (reply.status_code, reply.body) == (200, b"success")


def test_a_wrong_amount_in_documented_fields_is_not_what_is_applied(channel, sim, refunded):
    # refund_fee 0.01 (a lie, signed): the amount applied is the query's 21.00, never 0.01
    note, _ = channel.parse_notification({}, _signed(sim, refund_fee="0.01"))
    assert note.amount_fen == 2100


def test_notification_for_a_refund_alipay_lacks_applies_nothing(channel, sim):
    note, reply = channel.parse_notification({}, _signed(sim, out_biz_no="NEVER"))
    assert note.status == ResultStatus.PENDING and note.amount_fen is None
    assert note.raw["query"].get("refund_status") is None and reply.body == b"success"


def test_unconfirmed_notification_is_refused_and_can_come_again(channel, sim, refunded):
    sim.misbehave("system_error")  # the confirming query fails
    with pytest.raises(NotificationRejected, match="not confirmed"):
        channel.parse_notification({}, _signed(sim))
    note, _ = channel.parse_notification({}, _signed(sim))  # the notify_id was not used up
    assert note.status == ResultStatus.SUCCEEDED


def test_repeated_notify_id_is_acknowledged_with_nothing_to_apply(channel, sim, refunded):
    body = _signed(sim)
    first, _ = channel.parse_notification({}, body)
    again, reply = channel.parse_notification({}, body)
    assert first.status == ResultStatus.SUCCEEDED
    assert again.status == ResultStatus.PENDING and again.amount_fen is None
    assert again.raw["duplicate_notify_id"] == "n1" and reply.body == b"success"
    # a fresh copy, newly signed, that reuses the notify_id is a duplicate too
    copy, _ = channel.parse_notification({}, _signed(sim, notify_time=_ago(seconds=1)))
    assert copy.status == ResultStatus.PENDING


def test_the_replay_guard_from_the_services_is_shared_between_channels(sim, tmp_path, refunded):
    from refund_portal_alipay.plugin import channel_from_settings

    from portal.plugins.channels import ChannelServices, MemoryReplayGuard

    services = ChannelServices(MemoryReplayGuard(), dev_keys_dir=str(tmp_path / "keys"))
    one = channel_from_settings({"ALIPAY_GATEWAY_URL": sim.url}, services)
    two = channel_from_settings({"ALIPAY_GATEWAY_URL": sim.url}, services)
    body = _signed(sim, notify_id="shared")
    assert one.parse_notification({}, body)[0].status == ResultStatus.SUCCEEDED
    assert two.parse_notification({}, body)[0].status == ResultStatus.PENDING


def test_stale_notification_is_rejected_after_24_hours(channel, sim, refunded):
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
    tampered = _signed(sim).replace(b"refund_fee=21.00", b"refund_fee=99.00")
    with pytest.raises(NotificationRejected, match="bad signature"):
        channel.parse_notification({}, tampered)


def test_forged_signature_is_rejected(channel, sim, refunded):
    impostor = signing.load_private(sim.keys["ALIPAY_APP_PRIVATE_KEY"])  # not Alipay's key
    with pytest.raises(NotificationRejected, match="bad signature"):
        channel.parse_notification({}, _signed(sim, _key=impostor))
    # and a rejected forgery does not use up the notify_id of the genuine notification
    note, _ = channel.parse_notification({}, _signed(sim))
    assert note.status == ResultStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"app_id": "2021999999999999"}, "another app_id"),
        ({"notify_time": "yesterday"}, "notify_time"),
        ({"out_biz_no": ""}, "names no refund"),
        ({"notify_id": ""}, "no notify_id"),
        ({"sign_type": "RSA"}, "sign_type"),
    ],
)
def test_malformed_or_foreign_notifications_are_rejected(channel, sim, over, reason):
    with pytest.raises(NotificationRejected, match=reason):
        channel.parse_notification({}, _signed(sim, **over))


def test_notification_from_the_future_is_rejected(channel, sim):
    with pytest.raises(NotificationRejected, match="future"):
        channel.parse_notification({}, _signed(sim, notify_time=_ago(minutes=-30)))


def _message(sim, biz: dict, **over) -> bytes:
    p = {
        "notify_id": "m1",
        "utc_timestamp": str(int(time.time() * 1000)),
        "msg_method": "alipay.trade.refund.depositback.completed",
        "app_id": sim.keys["ALIPAY_APP_ID"],
        "version": "1.1",
        "biz_content": json.dumps(biz),
        "charset": "utf-8",
        "sign_type": "RSA2",
    }
    p.update(over)
    key = signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    p["sign"] = signing.sign(signing.string_to_sign(p, ("sign", "sign_type")), key)
    return urlencode(p).encode()


BIZ = {"trade_no": "2026112822001", "out_trade_no": "PAY-1", "out_request_no": "K9"}


def test_completion_message_is_confirmed_by_query(channel, sim, refunded):
    note, _ = channel.parse_notification({}, _message(sim, {**BIZ, "dback_status": "F"}))
    assert (note.status, note.amount_fen) == (ResultStatus.SUCCEEDED, 2100)  # refunded anyway


@pytest.mark.parametrize(
    ("biz", "over", "reason"),
    [
        (BIZ, {"msg_method": "alipay.trade.refund.other"}, "not a refund message"),
        (BIZ, {"utc_timestamp": str(int((time.time() - 90000) * 1000))}, "stale"),
        (BIZ, {"utc_timestamp": "soon"}, "malformed"),
        (BIZ, {"biz_content": "[1]"}, "malformed biz_content"),
        ({"trade_no": "2026112822001"}, {}, "names no refund"),
    ],
)
def test_malformed_completion_messages_are_rejected(channel, sim, biz, over, reason):
    with pytest.raises(NotificationRejected, match=reason):
        channel.parse_notification({}, _message(sim, biz, **over))


@pytest.mark.parametrize("body", [b"", b"\xff\xfe not a form", b"a=1&b=2"])
def test_garbage_is_rejected(channel, body):
    with pytest.raises(NotificationRejected):
        channel.parse_notification({}, body)
