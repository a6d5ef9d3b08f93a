"""Fixtures for the WeChat channel tests: a dev key set, a live simulator, a notify sink."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest
from refund_portal_wechat.channel import WechatChannel
from refund_portal_wechat.devkeys import ensure_dev_keys
from refund_portal_wechat.simulator import WechatSimulator
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from portal.plugins.channels import (
    MemoryReplayGuard,
    NotificationRejected,
    PaymentRef,
    RefundRequest,
)


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("wechat-keys")
    ensure_dev_keys(path)
    return str(path)


@pytest.fixture(scope="session")
def keys(keys_dir: str) -> dict[str, str]:
    return ensure_dev_keys(keys_dir)


def _make_channel(keys: Mapping[str, str], url: str, **overrides: Any) -> WechatChannel:
    kwargs: dict[str, Any] = {
        "mchid": keys["WECHAT_MCHID"],
        "gateway_url": url,
        "private_key": keys["WECHAT_PRIVATE_KEY"],
        "cert_serial": keys["WECHAT_CERT_SERIAL"],
        "apiv3_key": keys["WECHAT_APIV3_KEY"],
        "platform_public_key": keys["WECHAT_PLATFORM_PUBLIC_KEY"],
        "platform_public_key_id": keys["WECHAT_PLATFORM_PUBLIC_KEY_ID"],
        "timeout": 10.0,
        "replay_guard": MemoryReplayGuard(),
    }
    kwargs.update(overrides)
    return WechatChannel(**kwargs)


@pytest.fixture
def sim(keys_dir: str) -> Iterator[WechatSimulator]:
    simulator = WechatSimulator(keys_dir, hang_s=10.0).start()
    yield simulator
    simulator.stop()


@pytest.fixture
def channel(keys: dict[str, str], sim: WechatSimulator) -> WechatChannel:
    return _make_channel(keys, sim.url)


@pytest.fixture
def make_channel(keys: dict[str, str]) -> Callable[..., WechatChannel]:
    """Build a channel for a gateway URL, with keyword overrides."""
    return lambda url, **overrides: _make_channel(keys, url, **overrides)


def _new_trade(sim: WechatSimulator, total_fen: int) -> PaymentRef:
    tid = "42" + uuid.uuid4().hex[:26]
    out_trade_no = "T" + uuid.uuid4().hex[:20]
    sim.add_trade(tid, out_trade_no, total_fen)
    return PaymentRef("wechat", tid, out_trade_no, total_fen)


@pytest.fixture
def new_trade() -> Callable[[WechatSimulator, int], PaymentRef]:
    """Register a fresh trade on a simulator and return its PaymentRef."""
    return _new_trade


def _new_refund(
    payment: PaymentRef, amount_fen: int, key: str | None = None, **kw: Any
) -> RefundRequest:
    return RefundRequest(key or "RF" + uuid.uuid4().hex[:20], payment, amount_fen, **kw)


@pytest.fixture
def new_refund() -> Callable[..., RefundRequest]:
    """A RefundRequest with a fresh idempotency key unless one is given."""
    return _new_refund


def _wait_until(predicate: Callable[[], Any], timeout: float = 10.0, step: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(step)


@pytest.fixture
def wait_until() -> Callable[..., Any]:
    """Poll a predicate until it returns something truthy; fail after a timeout."""
    return _wait_until


class NotifySink:
    """A real HTTP endpoint on 127.0.0.1 that receives the simulator's notifications.

    With a channel it answers as the portal would: the channel's reply when
    parse_notification accepts, 400 when it raises NotificationRejected.
    ``fail_first`` makes it answer 500 to that many deliveries first.
    """

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.channel: WechatChannel | None = None
        self.fail_first = 0
        self._lock = threading.Lock()
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/notify/wechat"

    def start(self) -> NotifySink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        req = Request(environ)
        headers, body = dict(req.headers.items()), req.get_data()
        entry: dict[str, Any] = {"headers": headers, "body": body}
        with self._lock:
            failing = self.fail_first > 0
            self.fail_first -= 1 if failing else 0
        if failing:
            entry["status"] = 500
        elif self.channel is None:
            entry["status"] = 204
        else:
            try:
                notification, reply = self.channel.parse_notification(headers, body)
            except NotificationRejected as exc:
                entry.update(status=400, rejected=str(exc))
            else:
                entry.update(status=reply.status_code, notification=notification)
        with self._lock:
            self.received.append(entry)
        return Response(b"", status=entry["status"])(environ, start_response)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.received)

    def accepted(self) -> list[Any]:
        return [e["notification"] for e in self.entries() if "notification" in e]


@pytest.fixture
def sink() -> Iterator[NotifySink]:
    server = NotifySink().start()
    yield server
    server.stop()
