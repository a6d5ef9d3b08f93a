"""A Redis that accepts connections but never answers must not hang a web request.

Two ways to be silent: a socket server that accepts and says nothing (every new connection
hangs in its first reply), and a real ``redis-server`` paused with SIGSTOP after the portal's
pooled connection to it was made (a command on a live connection never gets its reply).
Either way lookups, staff logins and signed API writes answer 503 with ``Retry-After``, as
with a stopped Redis (``tests/test_redis_down.py``), within the configured timeouts and far
from redis-py's own default of 5 s per reply; a use case that only queues jobs after its
commit is saved and answers, paying for one timeout, not one per job.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from portal.extensions import db
from portal.infra.redis_client import timeouts
from portal.models import Order, RefundCase
from tests import factories as f
from tests.api_helpers import order_body, shop
from tests.conftest import Browser
from tests.live import wait_for
from tests.test_redis_down import REDIS_SERVER, OwnRedis, login, lookup

#: the timeouts the tests configure; redis-py's default (5 s per reply) is far above the bound
TIMEOUT = 0.3
#: what a request may take at most: a connection and a reply, with room for a loaded machine
BOUND = 3.0


class SilentServer:
    """Listens on a free port, accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"redis://127.0.0.1:{self.sock.getsockname()[1]}/0"
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:  # closed by stop()
                return
            self.accepted.append(conn)

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(5)


def point_at(app, url: str) -> None:
    """Make the app's Redis clients anew for ``url``, with the tests' short timeouts."""
    app.config["REDIS_URL"] = url
    app.config["REDIS_SOCKET_TIMEOUT"] = TIMEOUT
    app.config["REDIS_CONNECT_TIMEOUT"] = TIMEOUT
    for key in [k for k in app.extensions if k.startswith(("portal.redis", "portal.throttle"))]:
        del app.extensions[key]
    app.extensions.pop("portal.api_replay_guard", None)


@pytest.fixture
def silent(app) -> Iterator[SilentServer]:
    server = SilentServer()
    try:
        yield server
    finally:
        server.stop()


def timed(call):
    start = time.monotonic()
    answer = call()
    return answer, time.monotonic() - start


def assert_503_soon(answer, took: float) -> None:
    assert answer.status_code == 503, answer.status_code
    assert answer.headers["Retry-After"] == "30"
    assert took < BOUND, f"took {took:.2f} s"


def test_every_redis_client_the_portal_makes_is_bounded_in_time(app):
    from portal.infra.queue import redis_connection
    from portal.plugins.startup import _replay_guard
    from portal.views import throttling

    point_at(app, "redis://127.0.0.1:9/0")
    wanted = {"socket_timeout": TIMEOUT, "socket_connect_timeout": TIMEOUT}
    assert timeouts(app.config) == wanted

    def bounds(client) -> dict[str, float]:
        kwargs = client.connection_pool.connection_kwargs
        return {k: kwargs[k] for k in wanted}

    assert bounds(redis_connection()) == wanted  # the queue, the API replay guard
    assert bounds(throttling.lookups()._conn()) == wanted  # the failure throttles
    assert bounds(_replay_guard(app)._conn()) == wanted  # gateways' notification nonces


def test_a_silent_redis_gets_503_in_bounded_time(app, browser, client, clock, silent, caplog):
    order = f.order(clock())
    f.staff("rev1")
    api, _ = shop(client)
    made = api.post("/orders", order_body())
    assert made.status_code == 201, made.get_data(as_text=True)
    api_no = made.get_json()["order_no"]

    point_at(app, silent.url)
    r, took = timed(lambda: lookup(browser, order.order_no, f.PASSWORD))
    assert_503_soon(r, took)
    assert browser.get(f"/orders/{order.order_no}").status_code == 303  # no access was given
    r, took = timed(lambda: lookup(browser, order.order_no, f.PASSWORD, lang="zh-CN"))
    assert_503_soon(r, took)
    assert "未保存" in r.get_data(as_text=True)
    r, took = timed(lambda: login(browser))
    assert_503_soon(r, took)
    r, took = timed(lambda: api.post(f"/orders/{api_no}/cancel", {"reason": "out of stock"}))
    assert_503_soon(r, took)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    db.session.expire_all()
    assert db.session.query(Order).filter_by(order_no=api_no).one().cancelled_at is None
    assert len(silent.accepted) >= 4  # each request really waited on the silent server
    assert "Redis unavailable" in caplog.text and "Timeout" in caplog.text


def test_an_application_is_saved_and_pays_for_one_timeout_not_one_per_job(
    app, browser, clock, silent, caplog
):
    """Filing a case queues its deadline wake-ups after the commit; with Redis silent the
    first attempt times out and the others fail at once (the sweep finds the deadlines)."""
    order = f.order(clock())
    assert lookup(browser, order.order_no, f.PASSWORD).status_code == 303  # Redis answers
    url = f"/orders/{order.order_no}/apply"
    data = {"kind": "refund_only", "reason": "unusable", "amount": "10", "explanation": "x"}
    point_at(app, silent.url)
    r, took = timed(lambda: Browser(browser.client).submit(url, url, data))
    assert r.status_code == 303, r.status_code
    assert took < BOUND, f"took {took:.2f} s"
    wait_for(lambda: silent.accepted, 5, "the silent server to have accepted the connection")
    assert len(silent.accepted) == 1  # one connection tried; the later jobs did not wait
    db.session.expire_all()
    assert db.session.query(RefundCase).filter_by(order_id=order.id).count() == 1
    assert "could not schedule deadline job" in caplog.text


@pytest.mark.skipif(REDIS_SERVER is None, reason="needs a redis-server binary")
def test_a_paused_redis_gets_503_and_a_resumed_one_serves_again(app, browser, clock, tmp_path):
    order = f.order(clock())
    server = OwnRedis(tmp_path)
    server.start()
    assert server.proc is not None
    pid = server.proc.pid
    try:
        point_at(app, server.url)
        assert lookup(browser, order.order_no, "wrong").status_code == 422  # pooled, counted
        os.kill(pid, signal.SIGSTOP)
        try:
            r, took = timed(lambda: lookup(browser, order.order_no, f.PASSWORD))
            assert_503_soon(r, took)
            r, took = timed(lambda: login(browser))
            assert_503_soon(r, took)
        finally:
            os.kill(pid, signal.SIGCONT)
        assert lookup(browser, order.order_no, f.PASSWORD).status_code == 303
    finally:
        server.stop()
