"""Redis stopped and restarted under the portal: a real redis-server of the test's own.

Buyer lookups, staff logins and signed API writes need Redis (the failure throttles and the
API replay guard live there). Without it they answer 503 with ``Retry-After`` and do nothing
(fail closed: a replay guard that failed open would accept replays); once Redis is back they
work again, with no restart of the portal.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from portal.extensions import db
from portal.models import Order
from tests import factories as f
from tests.api_helpers import order_body, shop
from tests.conftest import Browser, csrf_from

REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs a redis-server binary")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OwnRedis:
    """A redis-server on a free port that the test stops and starts."""

    def __init__(self, folder: Path) -> None:
        self.port = _free_port()
        self.folder = folder
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        probe = Redis.from_url(self.url, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:  # wait for it to accept connections (not a sleep that makes a test pass)
            try:
                probe.ping()
                return
            except RedisConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def own_redis(app, tmp_path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    app.config["REDIS_URL"] = server.url
    for key in [k for k in app.extensions if k.startswith(("portal.redis", "portal.throttle"))]:
        del app.extensions[key]
    app.extensions.pop("portal.api_replay_guard", None)
    try:
        yield server
    finally:
        server.stop()


def lookup(browser: Browser, order_no: str, password: str, lang: str = "en"):
    page = browser.get("/")
    data = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "order_no": order_no,
        "contact": f.CONTACT,
        "password": password,
    }
    return browser.client.post("/lookup", data=data, headers={"Accept-Language": lang})


def login(browser: Browser, password: str = "password-123"):
    return browser.submit(
        "/staff/login", "/staff/login", {"username": "rev1", "password": password}
    )


def test_lookups_logins_and_api_writes_answer_503_while_redis_is_down(
    app, browser, client, clock, own_redis
):
    order = f.order(clock())
    f.staff("rev1")
    api, _ = shop(client)
    api_order = api.post("/orders", order_body())
    assert api_order.status_code in (200, 201), api_order.get_data(as_text=True)
    api_no = api_order.get_json()["order_no"]
    assert lookup(browser, order.order_no, "wrong").status_code == 422  # Redis up: counted

    own_redis.stop()
    r = lookup(browser, order.order_no, f.PASSWORD)
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    r = lookup(browser, order.order_no, f.PASSWORD, lang="zh-CN")
    assert r.status_code == 503 and "未保存" in r.get_data(as_text=True)
    assert browser.get(f"/orders/{order.order_no}").status_code == 303  # no access was given
    r = login(browser)
    assert r.status_code == 503 and "Retry-After" in r.headers
    r = api.post(f"/orders/{api_no}/cancel", {"reason": "out of stock"})
    assert r.status_code == 503 and r.headers["Retry-After"] == "30"
    assert r.headers["Content-Type"].startswith("application/problem+json")
    db.session.expire_all()
    assert db.session.query(Order).filter_by(order_no=api_no).one().cancelled_at is None

    own_redis.start()
    assert lookup(browser, order.order_no, f.PASSWORD).status_code == 303
    assert login(browser).status_code == 303
    r = api.post(f"/orders/{api_no}/cancel", {"reason": "out of stock"})
    assert r.status_code == 200, r.get_data(as_text=True)


def test_a_write_resent_over_an_outage_is_done_once(app, client, clock, own_redis):
    """The replay guard does not fail open during the outage (503, nothing done); after it,
    a restarted Redis without persistence has forgotten the nonce, and the idempotency record
    in the database still answers the resent write with the first answer."""
    api, _ = shop(client)
    raw = json.dumps(order_body()).encode()

    def headers_for(idem: str) -> dict[str, str]:
        return {
            **api.auth(),
            **api.signed(raw, path="/api/v1/orders", idem=idem),
            "Content-Type": "application/json",
            "Idempotency-Key": idem,
        }

    headers = headers_for("replay-1")
    first = client.post("/api/v1/orders", data=raw, headers=headers)
    assert first.status_code in (200, 201), first.get_data(as_text=True)
    own_redis.stop()
    again = headers_for("replay-2")
    assert client.post("/api/v1/orders", data=raw, headers=again).status_code == 503
    own_redis.start()  # an empty Redis (no persistence here): the replay cannot be recognised
    # by its nonce any more, but the idempotency record in the database still answers
    r = client.post("/api/v1/orders", data=raw, headers=headers)
    assert r.status_code in (200, 201) and r.headers.get("Idempotent-Replayed") == "true"
