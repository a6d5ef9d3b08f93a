"""Redis through Sentinel: every client the portal makes comes from one factory, and a
failover in the middle of a run of approvals and payout jobs loses and doubles no refund.

The slow test runs real ``redis-server`` processes (a master, a replica, three Sentinels),
real ``refund-portal worker`` processes and the Alipay and WeChat Pay simulators, and fails
the master over with SENTINEL FAILOVER while reviewers approve and workers settle.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest
from redis.sentinel import SentinelConnectionPool
from refund_portal_alipay.simulator import AlipaySimulator
from refund_portal_wechat.simulator import WechatSimulator
from sqlalchemy import func, select

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra.redis_client import client_for_url, client_from_config, sentinel_addresses
from portal.models import Payout, RefundCase
from portal.plugins.sms import DailyCap
from portal.services.actors import Actor
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import csrf_from
from tests.live import kill_group, serve, wait_for
from tests.sentinel_cluster import SERVICE, SentinelCluster, redis_server_binary


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, []),
        ("", []),
        ("10.0.0.5:26379", [("10.0.0.5", 26379)]),
        ("a:1, b:2 ,", [("a", 1), ("b", 2)]),
        ("sentinel-host", [("sentinel-host", 26379)]),
        (["a:1", "[::1]:2"], [("a", 1), ("::1", 2)]),
    ],
)
def test_the_sentinels_setting_is_read_as_host_port_pairs(value, expected):
    assert sentinel_addresses(value) == expected


@pytest.mark.parametrize("value", ["a:", ":26379", "a:port", "a:0", "a:70000", "a:-1"])
def test_a_malformed_sentinels_setting_names_the_entry(value):
    with pytest.raises(ValueError, match="REDIS_SENTINELS"):
        sentinel_addresses(value)


@pytest.mark.parametrize(
    ("url", "service", "db", "password", "ports"),
    [
        ("redis+sentinel://127.0.0.1:1,127.0.0.1:2/portal/3", "portal", 3, None, [1, 2]),
        ("redis+sentinel://:s%40cret@h:5/cache", "cache", 0, "s@cret", [5]),
        ("redis+sentinel://h", "portal", 0, None, [26379]),
    ],
)
def test_a_sentinel_url_names_the_sentinels_service_db_and_password(
    url, service, db, password, ports
):
    client = client_for_url(url)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool) and pool.service_name == service
    assert (pool.connection_kwargs["db"], pool.connection_kwargs.get("password")) == (db, password)
    assert [
        s.connection_pool.connection_kwargs["port"] for s in pool.sentinel_manager.sentinels
    ] == ports
    assert pool.connection_kwargs["socket_timeout"] == 2.0  # bounded like every other client


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://",
        "redis+sentinel:///portal",
        "redis+sentinel://h/a/b/c",
        "redis+sentinel://h/a/x",
        "redis+sentinel://h:p/a",
    ],
)
def test_a_malformed_sentinel_url_is_refused(url):
    with pytest.raises(ValueError):
        client_for_url(url)


def test_every_client_goes_through_sentinel_when_configured_and_stays_bounded(app):
    """The queue (and with it RQ, the throttles, the singleton locks, /readyz), the API
    replay guard, the gateways' replay guard and the shared store: all Sentinel clients."""
    from portal.infra.queue import redis_connection
    from portal.plugins.startup import _replay_guard, _shared_store
    from portal.views import throttling
    from portal.views.api_auth import replay_guard

    app.config.update(
        REDIS_URL="redis://127.0.0.1:9/0",  # Sentinels win over the URL
        REDIS_SENTINELS="127.0.0.1:1,127.0.0.1:2",
        REDIS_SENTINEL_SERVICE="payments-redis",
        REDIS_DB=5,
        REDIS_SOCKET_TIMEOUT=0.7,
        REDIS_CONNECT_TIMEOUT=0.6,
    )
    for key in ("portal.redis", "portal.api_replay_guard", "portal.throttle.lookup"):
        app.extensions.pop(key, None)
    clients = {
        "queue": redis_connection(),
        "throttle": throttling.lookups()._conn(),
        "api replay guard": replay_guard()._conn(),
        "gateway replay guard": _replay_guard(app)._conn(),
        "shared store": _shared_store(app)._conn(),
    }
    for name, client in clients.items():
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool), name
        assert pool.service_name == "payments-redis", name
        kwargs = pool.connection_kwargs
        assert (kwargs["db"], kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (
            5,
            0.7,
            0.6,
        ), name
        sentinels = pool.sentinel_manager.sentinels
        assert [(s.connection_pool.connection_kwargs["port"]) for s in sentinels] == [1, 2]
        assert all(s.connection_pool.connection_kwargs["socket_timeout"] == 0.7 for s in sentinels)


def test_without_sentinels_the_url_is_used_and_without_either_nothing(app):
    client = client_from_config({"REDIS_URL": "redis://127.0.0.1:9/3"})
    assert client is not None and client.connection_pool.connection_kwargs["db"] == 3
    assert not isinstance(client.connection_pool, SentinelConnectionPool)
    assert client_from_config({"REDIS_URL": None, "REDIS_SENTINELS": ""}) is None


def test_no_sentinel_answering_is_a_503_not_a_stack_trace(app, browser, clock):
    order = f.order(clock())
    page = browser.get("/")  # before Redis goes away: the page itself needs none
    app.config.update(REDIS_SENTINELS=f"127.0.0.1:{_closed_port()}", REDIS_CONNECT_TIMEOUT=0.5)
    app.extensions.pop("portal.redis", None)
    app.extensions.pop("portal.throttle.lookup", None)
    r = browser.client.post(
        "/lookup",
        data={
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "order_no": order.order_no,
            "contact": f.CONTACT,
            "password": f.PASSWORD,
        },
    )
    assert r.status_code == 503
    assert r.headers.get("Retry-After")
    assert "Traceback" not in r.get_data(as_text=True)


def _closed_port() -> int:
    from tests.sentinel_cluster import free_port

    return free_port()


CASES = int(os.environ.get("SENTINEL_CASES", "30"))


@pytest.mark.slow
@pytest.mark.skipif(redis_server_binary() is None, reason="needs a redis-server binary")
def test_a_failover_during_approvals_and_payouts_loses_and_doubles_no_refund(app, clock, tmp_path):
    from jobs.runtime import set_app
    from jobs.sweeps import sweep_payouts
    from portal.infra.queue import redis_connection
    from portal.plugins.startup import init_plugins

    cluster = SentinelCluster(tmp_path / "redis").start()
    keys = tmp_path / "keys"
    sims = {
        "wechat": WechatSimulator(str(keys)).start(),
        "alipay": AlipaySimulator(str(keys)).start(),
    }
    workers: list[subprocess.Popen] = []
    try:
        app.config.update(
            REDIS_URL=None,
            REDIS_SENTINELS=cluster.setting,
            REDIS_SENTINEL_SERVICE=SERVICE,
            DEV_KEYS_DIR=str(keys),
            WECHAT_GATEWAY_URL=sims["wechat"].url,
            ALIPAY_GATEWAY_URL=sims["alipay"].url,
        )
        app.extensions.pop("portal.redis", None)
        init_plugins(app)  # the channels, and the replay guard and shared store through Sentinel
        clock.set(datetime.now(UTC))  # the workers run on the real clock
        reviewer_user = f.staff("failover")
        reviewer = Actor(Role.REVIEWER, reviewer_user.id, "failover")
        rng = random.Random(20261206)
        with serve(app) as base:
            app.config["PUBLIC_BASE_URL"] = base
            env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
            env.update(
                {
                    "PORTAL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "PORTAL_REDIS_SENTINELS": cluster.setting,
                    "PORTAL_REDIS_SENTINEL_SERVICE": SERVICE,
                    "PORTAL_SECRET_KEY": "test-secret",
                    "PORTAL_ENVIRONMENT": "development",
                    "PORTAL_PUBLIC_BASE_URL": base,
                    "PORTAL_AUDIT_SEAL_KEY": app.config["AUDIT_SEAL_KEY"],
                    "PORTAL_DEV_KEYS_DIR": str(keys),
                    "PORTAL_WECHAT_GATEWAY_URL": sims["wechat"].url,
                    "PORTAL_ALIPAY_GATEWAY_URL": sims["alipay"].url,
                }
            )
            for i in range(2):
                log = open(tmp_path / f"worker{i}.log", "ab")
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "portal.cli", "worker"],
                        env=env,
                        stdout=log,
                        stderr=log,
                        start_new_session=True,
                    )
                )

            def approve_one(n: int) -> None:
                channel = ("wechat", "alipay")[n % 2]
                order = f.order(clock(), channel=channel, amount_fen=rng.randint(1, 50000))
                p = order.payment
                sims[channel].add_trade(p.gateway_trade_id, p.merchant_trade_no, order.amount_fen)
                case = cases.apply_for_refund(
                    order,
                    cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "x"),
                )
                cases.approve(case, reviewer)

            third = CASES // 3
            for n in range(third):
                approve_one(n)
            # the workers are settling: fail over in the middle of it
            wait_for(lambda: _moved(sims) >= 1, 60, "a first refund settled before the failover")
            new_master = cluster.failover()
            for n in range(third, 2 * third):  # reviewers go on approving during the failover
                approve_one(n)
            cluster.wait_failed_over(new_master)
            for n in range(2 * third, CASES):
                approve_one(n)
            assert redis_connection().set("portal:test:after-failover", "1")
            assert cluster.client(new_master).get("portal:test:after-failover") == b"1"
            # the SMS notifiers' daily cap, configured with a Sentinel URL, counts on the new master
            cap = DailyCap.for_url(f"redis+sentinel://{cluster.setting}/{SERVICE}/0", "sms_t", 1)
            assert cap.take("13800000000") and not cap.take("13800000000")
            assert cluster.client(new_master).keys("sms_t:cap:*")

            # the workers settle what they can; whatever a lost job left, the sweep finds
            try:
                wait_for(lambda: _unsettled() == 0, 90, "the workers to settle every payout", 0.2)
            except AssertionError:
                pass
            settled_live = CASES - _unsettled()
            alive = [w.poll() is None for w in workers]
            for w in workers:
                w.send_signal(signal.SIGTERM)
            told = time.monotonic()
            still_running = []
            for w in workers:
                try:
                    w.wait(max(0.1, told + 15 - time.monotonic()))
                except subprocess.TimeoutExpired:
                    still_running.append(w.pid)
                    kill_group(w)
            # a worker stops on time after a failover too (it waited for its cut-off BLPOP's
            # reply, up to the dequeue timeout, before redis_client.ClosesOnError)
            assert still_running == [], f"workers still running 15 s after SIGTERM: {still_running}"
            set_app(app)
            for _ in range(4):
                if _unsettled() == 0:
                    break
                clock.advance(hours=2)
                sweep_payouts(reschedule=False)
                burst = subprocess.Popen(
                    [sys.executable, "-m", "portal.cli", "worker", "--burst"],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                burst.wait(300)

        db.session.expire_all()
        expected = {p.idempotency_key: p.amount_fen for p in db.session.scalars(select(Payout))}
        assert len(expected) == CASES  # every approval made its payout, none twice
        states = set(db.session.scalars(select(Payout.state)))
        logs = "".join(
            (tmp_path / f"worker{i}.log").read_text(errors="replace")[-2000:] for i in range(2)
        )
        assert states == {"succeeded"}, logs
        assert {c.state for c in db.session.scalars(select(RefundCase))} == {"refunded"}
        movements = [(m["out_refund_no"], m["amount_fen"]) for m in sims["wechat"].movements()]
        movements += [(m["out_request_no"], m["amount_fen"]) for m in sims["alipay"].movements()]
        moved = [k for k, _ in movements]
        assert len(moved) == len(set(moved)), "a refund moved money twice"
        assert dict(movements) == expected  # none lost, each for its amount
        assert all(alive), f"a worker died in the failover: {logs}"
        print(
            f"\nSentinel failover: {CASES} refunds, {settled_live} settled by the running"
            f" workers through the failover, the rest by the sweep"
        )
    finally:
        for w in workers:
            if w.poll() is None:
                kill_group(w)
        for sim in sims.values():
            sim.stop()
        cluster.stop()


def _moved(sims: dict) -> int:
    return len(sims["wechat"].movements()) + len(sims["alipay"].movements())


def _unsettled() -> int:
    db.session.expire_all()
    return int(
        db.session.scalar(
            select(func.count()).select_from(Payout).where(Payout.state != "succeeded")
        )
        or 0
    )


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("PORTAL_REDIS_SENTINELS", "10.0.0.7:26379,10.0.0.8:port", "is not host:port"),
        ("PORTAL_REDIS_DB", '"one"', "is not a database number"),
        ("PORTAL_REDIS_URL", "redis+sentinel://h:1/a/b/c", "ends in /service or /service/db"),
    ],
)
def test_malformed_sentinel_settings_stop_the_start_with_the_reason(tmp_path, name, value, words):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
    env.update(
        {
            "PORTAL_INSTANCE_PATH": str(tmp_path),
            "PORTAL_SECRET_KEY": "k" * 40,
            name: value,
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "portal.cli", "init-db"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert name in result.stderr and words in result.stderr, result.stderr
