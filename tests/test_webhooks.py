"""Webhooks to the shop: written with the case/payout event, delivered by RQ jobs to a real
HTTP receiver on 127.0.0.1, signed; retried after a failure; replayed from the merchant page."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rq.registry import ScheduledJobRegistry
from sqlalchemy import select

from jobs.runtime import set_app
from portal.extensions import db
from portal.infra.queue import queue
from portal.models import WebhookDelivery
from portal.services.integration import signing, webhooks
from tests import factories as f
from tests.api_helpers import order_body, shop
from tests.test_settlement import work


class Receiver:
    """A shop's webhook endpoint: records each request; answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((dict(self.headers), body))
                self.send_response(outer.status)
                self.end_headers()
                self.wfile.write(b"ok" if outer.status == 200 else b"down")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/refunds"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self) -> list[dict]:
        return [json.loads(body) for _, body in self.calls]


@pytest.fixture
def receiver(app):
    app.config["WEBHOOKS_ALLOW_LOCAL"] = True  # the receiver listens on 127.0.0.1
    r = Receiver()
    yield r
    r.server.shutdown()


def cancelled_order(client, receiver, order_no="WH1"):
    s, mid = shop(client)
    endpoint = webhooks.add_endpoint(mid, receiver.url)
    s.post("/orders", order_body(order_no))
    assert s.post(f"/orders/{order_no}/cancel", {"reason": "out of stock"}).status_code == 200
    return s, mid, endpoint


def test_case_and_payout_events_are_delivered_signed(app, client, receiver, gateway):
    _, _, endpoint = cancelled_order(client, receiver)
    # written in the cancellation's own transaction (an outbox), before any job ran
    types = db.session.scalars(select(WebhookDelivery.event_type).order_by(WebhookDelivery.id))
    assert list(types) == ["case.approved", "case.refunding", "payout.created"]
    assert receiver.calls == []
    work(app)  # delivery jobs, and the settlement job whose events are delivered too
    got = [e["type"] for e in receiver.events()]
    assert got == [
        "case.approved",
        "case.refunding",
        "payout.created",
        "payout.succeeded",
        "case.refunded",
    ]
    for headers, body in receiver.calls:
        ts = headers["X-Portal-Timestamp"]
        assert headers["X-Portal-Signature"] == signing.sign(endpoint.secret, ts, body)
        assert headers["X-Portal-Event-Id"] == json.loads(body)["id"]
    last = receiver.events()[-1]["data"]
    assert last["order_no"] == "WH1" and last["to_state"] == "refunded"
    assert receiver.events()[3]["data"]["payout"]["amount_fen"] == 9500
    assert all(d.delivered_at for d in db.session.scalars(select(WebhookDelivery)))


def test_a_failed_delivery_is_retried_with_backoff_and_sent_once_when_it_works(
    app, client, receiver, clock
):
    receiver.status = 500
    cancelled_order(client, receiver)
    first = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id))
    work(app)  # every delivery fails once; RQ schedules the retries
    q = queue()
    first = db.session.get(WebhookDelivery, first.id)
    assert first.attempts == 1 and first.last_status == 500 and first.delivered_at is None
    assert first.last_error == "http: down"
    assert (first.next_attempt_at - clock()).total_seconds() == webhooks.BACKOFF[0]
    # RQ holds the retry in its scheduled registry (the worker's scheduler enqueues it)
    assert ScheduledJobRegistry(queue=q).count >= 1
    receiver.status = 200
    from jobs.webhooks import deliver

    set_app(app)

    assert deliver(first.id) == "delivered"  # what the retry runs
    assert deliver(first.id) == "already delivered"  # safe to run twice
    db.session.expire_all()
    first = db.session.get(WebhookDelivery, first.id)
    assert first.attempts == 2 and first.last_status == 200 and first.delivered_at is not None
    sent = [e["id"] for e in receiver.events()]
    assert sent.count(first.payload["id"]) == 2  # one failed try, one success, no more
    # the sweep re-enqueues what is due and undelivered (lost jobs), not what was delivered
    clock.advance(minutes=1)
    due = webhooks.due_ids()
    assert first.id not in due and len(due) == 4


def test_an_unreachable_endpoint_is_recorded(app, client, receiver):
    receiver.server.shutdown()
    receiver.server.server_close()
    cancelled_order(client, receiver)
    d = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id))
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(d.id)
    assert d.attempts == 1 and d.last_status is None and d.last_error == "connect"


def test_the_merchant_sees_the_log_and_replays_a_delivery(app, client, browser, receiver):
    _, mid, _ = cancelled_order(client, receiver)
    work(app)
    n = len(receiver.calls)
    from portal.models import Merchant

    user = f.staff("shopstaff", "merchant", db.session.get(Merchant, mid).slug)
    browser.submit(
        "/staff/login", "/staff/login", {"username": user.username, "password": "password-123"}
    )
    page = browser.get("/merchant/webhooks").get_data(as_text=True)
    assert "case.refunded" in page and receiver.url in page
    d = db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.event_type == "case.refunded")
    )
    r = browser.submit("/merchant/webhooks", f"/merchant/webhooks/deliveries/{d.id}/replay", {})
    assert r.status_code == 303
    work(app)
    assert len(receiver.calls) == n + 1
    assert receiver.events()[-1]["id"] == d.payload["id"]  # the same event, for deduplication


def test_another_merchant_cannot_replay(app, client, browser, receiver):
    cancelled_order(client, receiver)
    d = db.session.scalar(select(WebhookDelivery))
    other = f.merchant("other")
    db.session.commit()
    f.staff("otherstaff", "merchant", other.slug)
    browser.submit(
        "/staff/login", "/staff/login", {"username": "otherstaff", "password": "password-123"}
    )
    assert "case.approved" not in browser.get("/merchant/webhooks").get_data(as_text=True)
    r = browser.submit("/merchant/webhooks", f"/merchant/webhooks/deliveries/{d.id}/replay", {})
    assert r.status_code == 404


def test_no_endpoint_no_deliveries_and_no_jobs(app, client, clock):
    s, _ = shop(client)
    s.post("/orders", order_body("WH9"))
    s.post("/orders/WH9/cancel", {"reason": "x"})
    assert db.session.scalar(select(WebhookDelivery)) is None
    assert "jobs.webhooks.deliver" not in [j.func_name for j in queue().jobs]


def test_a_paused_endpoint_gets_nothing_new(app, client, receiver):
    s, mid = shop(client)
    ep = webhooks.add_endpoint(mid, receiver.url)
    webhooks.set_active(mid, ep.id, False)
    s.post("/orders", order_body("WH10"))
    s.post("/orders/WH10/cancel", {"reason": "x"})
    assert db.session.scalar(select(WebhookDelivery)) is None


def test_endpoint_address_must_be_http(app):
    m = f.merchant()
    db.session.commit()
    from portal.services.errors import DomainError

    with pytest.raises(DomainError):
        webhooks.add_endpoint(m.id, "ftp://example.com/x")
