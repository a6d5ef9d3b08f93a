"""Alipay refund notifications as a real merchant meets them, through the portal.

Alipay sends a refund's notification to the payment's notify_url, which is the shop's; the
shop forwards the exact body to ``/callbacks/alipay``; the portal verifies Alipay's
signature and confirms the refund by query before settling anything. Hostile first: a
genuine notification with only documented fields cannot settle a 21.00 payout from a
0.01 refund; then the forwarding path settles an unknown payout, and a repeated
notification is answered ``success`` with no second effect.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
import requests
from refund_portal_alipay import signing
from refund_portal_alipay.simulator import AlipaySimulator
from sqlalchemy import func, select
from werkzeug.serving import make_server

from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, LedgerTransaction, Payout
from portal.plugins.channels import PaymentRef, RefundRequest, ResultStatus
from portal.services.actors import Actor
from tests import factories as f
from tests.live import serve
from tests.test_settlement import approved_case, work


class Shop:
    """The shop's payment notify_url: keeps what Alipay sends, answers ``success``, and
    forwards the exact bodies to the portal when told to (as docs/payments-setup.md shows)."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/alipay/notify"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        self.bodies.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"success"]

    def received(self, n: int = 1, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.bodies

    @staticmethod
    def forward(body: bytes, portal_base: str) -> requests.Response:
        return requests.post(
            portal_base + "/callbacks/alipay",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            timeout=15,
        )

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def alipay(app, tmp_path):
    keys = tmp_path / "keys"
    with AlipaySimulator(keys, hang_s=3, late_s=0.2) as sim:
        app.config.update(DEV_KEYS_DIR=str(keys), ALIPAY_GATEWAY_URL=sim.url, ALIPAY_TIMEOUT=1)
        from portal.plugins.startup import init_plugins

        init_plugins(app)
        yield sim


@pytest.fixture
def shop():
    s = Shop()
    yield s
    s.close()


@pytest.fixture
def reviewer(app):
    return Actor(Role.REVIEWER, f.staff("alipay-fwd").id, "R")


def _payout_for(clock, reviewer, sim, amount_fen: int, notify_url: str = ""):
    order = f.order(clock(), channel="alipay", amount_fen=amount_fen)
    payment = order.payment
    sim.add_trade(payment.gateway_trade_id, payment.merchant_trade_no, amount_fen, notify_url)
    approved_case(clock, reviewer, order=order)
    payout = db.session.scalar(select(Payout).where(Payout.case_id.isnot(None)))
    ref = PaymentRef("alipay", payment.gateway_trade_id, payment.merchant_trade_no, amount_fen)
    return payout.id, payout.idempotency_key, ref


def _documented_notification(sim, ref: PaymentRef, key: str, refund_fee: str, notify_id: str):
    """A genuine, Alipay-signed trade_status_sync with only the documented fields."""
    p = {
        "notify_time": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S"),
        "notify_type": "trade_status_sync",
        "notify_id": notify_id,
        "app_id": sim.keys["ALIPAY_APP_ID"],
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": ref.gateway_trade_id,
        "out_trade_no": ref.merchant_trade_no,
        "out_biz_no": key,
        "trade_status": "TRADE_SUCCESS",
        "total_amount": "21.00",
        "refund_fee": refund_fee,
        "gmt_refund": "2026-11-28 12:00:00.000",
    }
    gateway = signing.load_private(sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
    p["sign"] = signing.sign(signing.string_to_sign(p, ("sign", "sign_type")), gateway)
    return urlencode(p).encode()


def _effects(payout_id: int) -> tuple[int, int]:
    db.session.expire_all()
    events = db.session.scalar(
        select(func.count()).select_from(Event).where(Event.payout_id == payout_id)
    )
    entries = db.session.scalar(
        select(func.count())
        .select_from(LedgerTransaction)
        .where(LedgerTransaction.payout_id == payout_id)
    )
    return events, entries


def test_documented_fields_with_a_wrong_amount_never_settle_a_payout(
    app, client, clock, reviewer, alipay
):
    payout_id, key, ref = _payout_for(clock, reviewer, alipay, 2100)
    # Alipay holds a refund of 0.01 under the payout's key (not the 21.00 the portal asked)
    from portal.plugins.startup import channels

    channel = channels().get("alipay")
    assert channel.execute_refund(RefundRequest(key, ref, 1)).status == ResultStatus.SUCCEEDED
    before = _effects(payout_id)
    for refund_fee in ("0.01", "21.00"):  # what the trade's total says is beside the point
        body = _documented_notification(alipay, ref, key, refund_fee, f"hostile-{refund_fee}")
        r = client.post(
            "/callbacks/alipay", data=body, content_type="application/x-www-form-urlencoded"
        )
        assert r.status_code == 409 and b"amount mismatch" in r.data
    db.session.expire_all()
    payout = db.session.get(Payout, payout_id)
    assert payout.state == "created" and payout.settled_at is None
    assert _effects(payout_id) == before
    # nor does the refund's own answer or query settle it: 21.00 under a 0.01 key is refused
    query = channel.query_refund(RefundRequest(key, ref, 2100))
    assert query.status == ResultStatus.UNKNOWN and query.code == "AMOUNT_MISMATCH"
    work(app)
    payout = db.session.get(Payout, payout_id)
    assert payout.state != "succeeded" and payout.last_code == "ACQ.DISCORDANT_REPEAT_REQUEST"
    assert [m["amount_fen"] for m in alipay.movements()] == [1]


def test_forwarded_notification_settles_an_unknown_payout_once(app, clock, reviewer, alipay, shop):
    payout_id, key, _ = _payout_for(clock, reviewer, alipay, 2100, notify_url=shop.url)
    alipay.misbehave("timeout_after_move")  # the money moves, the answer never comes
    work(app)
    payout = db.session.get(Payout, payout_id)
    assert payout.state == "unknown"
    [body] = shop.received(1)  # Alipay notified the shop's payment address, not the portal
    assert b"out_biz_no=" + key.encode() in body and b"send_back_fee" not in body
    with serve(app) as base:
        r = shop.forward(body, base)
        assert (r.status_code, r.text) == (200, "success")
        db.session.expire_all()
        payout = db.session.get(Payout, payout_id)
        assert payout.state == "succeeded"
        settled = _effects(payout_id)
        # the same notification forwarded again (same notify_id): success, no second effect
        again = shop.forward(body, base)
        assert (again.status_code, again.text) == (200, "success")
        assert _effects(payout_id) == settled
    assert [m["amount_fen"] for m in alipay.movements()] == [2100]


def test_repeated_notification_after_the_worker_settled_is_acknowledged(
    app, clock, reviewer, alipay, shop
):
    payout_id, _, _ = _payout_for(clock, reviewer, alipay, 2100, notify_url=shop.url)
    work(app)  # settled from the synchronous answer
    assert db.session.get(Payout, payout_id).state == "succeeded"
    [body] = shop.received(1)
    settled = _effects(payout_id)
    with serve(app) as base:
        for _ in range(2):
            r = shop.forward(body, base)
            assert (r.status_code, r.text) == (200, "success")
    assert _effects(payout_id) == settled
