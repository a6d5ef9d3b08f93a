"""Many nodes, one truth (issue 25): two gunicorn web nodes and three ``refund-portal worker``
processes on one PostgreSQL database, Redis through Sentinel and evidence in an S3-compatible
store, with a web node and a worker killed (SIGKILL) and Redis failed over in the middle of a run.

Every process is real: ``redis-server`` (a master, a replica, three Sentinels), ``rclone serve
s3``, gunicorn serving ``portal:create_app()`` from ``PORTAL_*`` settings as an operator would,
the workers, and the Alipay and WeChat Pay simulators. Buyers apply with uploads, alternating
between the nodes (after the kill, the proxy sends everyone to the survivor); a reviewer
approves each case; the workers settle the refunds with the simulators.

Afterwards: every approved refund paid exactly once on the simulators' ledgers, for its
amount; every upload readable, its hash intact, from the surviving node and from a fresh node
started afterwards (also those sent to the killed one); every request that got a success answer
is in the database, and every case there has all its files. A request in flight
to the killed node may succeed or not; a 503 (Redis failing over) promises nothing was saved
and is sent again, and the second attempt must find nothing half-done.

Runs on a database of its own on the PostgreSQL server of ``PORTAL_DATABASE_URL`` (else
127.0.0.1:5432), created and dropped here; skipped, saying why, when no PostgreSQL answers.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from PIL import Image
from refund_portal_alipay.simulator import AlipaySimulator
from refund_portal_wechat.simulator import WechatSimulator
from sqlalchemy import func, make_url, select

from portal import create_app
from portal.extensions import db
from portal.models import Evidence, Order, Payout, RefundCase
from tests import factories as f
from tests.conftest import PG_URL, Clock, base_config
from tests.gunicorn_stack import (
    DEFAULT_SERVER,
    REPO,
    form,
    free_port,
    own_database,
    postgres_unreachable,
)
from tests.images import image_bytes, pdf_bytes
from tests.live import kill_group, wait_for
from tests.s3_server import S3Server
from tests.sentinel_cluster import SERVICE, SentinelCluster, redis_server_binary

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(redis_server_binary() is None, reason="needs a redis-server binary"),
]

BUYERS = int(os.environ.get("MULTI_NODE_BUYERS", "24"))
WEB_WORKERS = 2  # gunicorn sync workers per node
STAFF_PASSWORD = "password-123"  # what tests.factories.staff gives every login
SEAL_KEY = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="
#: how long a request may keep answering 503 while Redis fails over (Sentinel needs seconds)
RETRY_WINDOW = 60.0


@dataclass
class Node:
    name: str
    base: str
    proc: subprocess.Popen
    log: Path


@dataclass
class Applied:
    """A buyer whose application got its success answer (303)."""

    order_no: str
    case_no: str
    node: str
    files: dict[str, bytes]  # original name: bytes sent
    session: requests.Session
    approved: bool = False


@dataclass
class Ledger:
    """What the run saw: the success answers, and what was in flight at the kill."""

    applied: list[Applied] = field(default_factory=list)
    retried_503: int = 0
    lost_in_crash: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _node(name: str, env: dict[str, str], log: Path) -> Node:
    """A web node: gunicorn serving the production factory, in its own process group (so
    that SIGKILL takes the master and its workers at once, like a machine going away)."""
    port = free_port()
    out = open(log, "ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(WEB_WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "90",
            "--chdir",
            str(REPO),
            "portal:create_app()",
        ],
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    out.close()
    return Node(name, f"http://127.0.0.1:{port}", proc, log)


def _wait_serving(node: Node) -> None:
    import psutil

    def ready() -> bool:
        if node.proc.poll() is not None:
            raise AssertionError(f"{node.name} exited: {node.log.read_text()[-3000:]}")
        try:
            if requests.get(node.base + "/healthz", timeout=5).status_code != 200:
                return False
        except requests.RequestException:
            return False
        return len(psutil.Process(node.proc.pid).children()) == WEB_WORKERS

    wait_for(ready, 120, f"web node {node.name} answering with {WEB_WORKERS} workers", 0.1)


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    out = open(log, "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "worker"],
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    out.close()
    return proc


@contextmanager
def _database(request: pytest.FixtureRequest) -> Iterator[str]:
    server = PG_URL if PG_URL and PG_URL.startswith("postgresql") else DEFAULT_SERVER
    reason = postgres_unreachable(make_url(server))
    if reason:
        pytest.skip(reason)
    with own_database(server, f"refund_portal_multinode_{os.getpid()}") as url:
        yield url


def _until_not_503(send: Callable[[], requests.Response], ledger: Ledger) -> requests.Response:
    """Send again while the answer is 503 (Redis failing over: "nothing was saved")."""
    deadline = time.monotonic() + RETRY_WINDOW
    while True:
        r = send()
        if r.status_code != 503:
            return r
        with ledger.lock:
            ledger.retried_503 += 1
        if time.monotonic() > deadline:
            raise AssertionError(f"still 503 after {RETRY_WINDOW} s: {r.text[:500]}")
        time.sleep(0.2)  # polling interval of a bounded wait, not a race


def _form_post(
    http: requests.Session,
    base: str,
    page: str,
    action_ends: str,
    data: dict,
    files=None,
    sending: threading.Event | None = None,
) -> requests.Response:
    """Open ``page`` on ``base`` and send its form (the page's CSRF token with it);
    ``sending`` is set between the two."""
    r = http.get(base + page, allow_redirects=False, timeout=60)
    if r.status_code == 503:
        return r
    assert r.status_code == 200, (page, r.status_code, r.text[:500])
    action, fields = form(r.text, action_ends, page)
    if sending is not None:
        sending.set()
    return http.post(
        base + action,
        data={**fields, **data},
        files=files,
        allow_redirects=False,
        timeout=60,
    )


def _new_http() -> requests.Session:
    http = requests.Session()
    http.headers["Accept-Language"] = "en"
    return http


def _apply(
    order: tuple[str, int],
    base: str,
    node: str,
    seed: int,
    ledger: Ledger,
    sending: threading.Event | None = None,
) -> Applied | None:
    """A buyer looks the order up on ``base`` and applies with two files; the Applied record
    once the answer is a success. With ``sending`` (set as the application goes out) the node
    may die under the request: None then."""
    order_no, amount_fen = order
    http = _new_http()
    files = {
        f"screenshot-{seed}.png": image_bytes(size=(160, 120), seed=seed),
        f"chat-{seed}.pdf": pdf_bytes(),
    }
    try:
        r = _until_not_503(
            lambda: _form_post(
                http,
                base,
                "/",
                "/lookup",
                {"order_no": order_no, "contact": f.CONTACT, "password": f.PASSWORD},
            ),
            ledger,
        )
        assert r.status_code == 303, (r.status_code, r.text[:500])
        page = f"/orders/{order_no}/apply"
        fields = {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": f"{amount_fen // 100}.{amount_fen % 100:02d}",
            "explanation": f"card {seed} says already used",
        }
        upload = [
            ("files", (name, data, "image/png" if name.endswith(".png") else "application/pdf"))
            for name, data in files.items()
        ]
        r = _until_not_503(
            lambda: _form_post(http, base, page, "/apply", fields, upload, sending), ledger
        )
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        if sending is None:
            raise
        with ledger.lock:
            ledger.lost_in_crash += 1
        return None
    assert r.status_code == 303, (r.status_code, r.text[:1500])
    case_no = r.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    applied = Applied(order_no, case_no, node, files, http)
    with ledger.lock:
        ledger.applied.append(applied)
    return applied


class Reviewers(threading.local):
    """One logged-in reviewer session per driver thread (a requests.Session is not shared)."""

    http: requests.Session | None = None


def _approve(applied: Applied, base: str, reviewers: Reviewers, ledger: Ledger) -> None:
    if reviewers.http is None:
        http = _new_http()
        r = _until_not_503(
            lambda: _form_post(
                http,
                base,
                "/staff/login",
                "/staff/login",
                {"username": "multi-node", "password": STAFF_PASSWORD},
            ),
            ledger,
        )
        assert r.status_code == 303, (r.status_code, r.text[:500])
        reviewers.http = http
    http = reviewers.http
    r = _until_not_503(
        lambda: _form_post(
            http, base, f"/review/cases/{applied.case_no}", "/approve", {"approve-amount": ""}
        ),
        ledger,
    )
    assert r.status_code == 303, (applied.case_no, r.status_code, r.text[:1500])
    applied.approved = True


def _moved(sims: dict) -> list[tuple[str, int]]:
    found = [(m["out_refund_no"], m["amount_fen"]) for m in sims["wechat"].movements()]
    found += [(m["out_request_no"], m["amount_fen"]) for m in sims["alipay"].movements()]
    return found


def _unsettled() -> int:
    db.session.expire_all()
    return int(
        db.session.scalar(
            select(func.count()).select_from(Payout).where(Payout.state != "succeeded")
        )
        or 0
    )


def _stalled(live: list[subprocess.Popen]) -> bool:
    """Nothing queued and no live worker busy: what is unsettled now waits for the sweep."""
    from rq import Worker

    from portal.infra.queue import queue, redis_connection

    if queue().count:
        return False
    pids = {w.pid for w in live}
    busy = [
        w
        for w in Worker.all(connection=redis_connection())
        if w.pid in pids and w.get_state() == "busy"
    ]
    return not busy


def _logs(paths: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-1500:]}" for p in paths)


def test_two_web_nodes_and_three_workers_lose_and_double_nothing_through_kills_and_failover(
    request, tmp_path
):
    started = time.monotonic()
    phases: dict[str, float] = {}
    with ExitStack() as stack:
        url = stack.enter_context(_database(request))
        cluster = SentinelCluster(tmp_path / "redis").start()
        stack.callback(cluster.stop)
        s3 = S3Server(tmp_path / "s3").start()
        stack.callback(s3.stop)
        keys = tmp_path / "keys"
        sims = {
            "wechat": WechatSimulator(str(keys)).start(),
            "alipay": AlipaySimulator(str(keys)).start(),
        }
        for sim in sims.values():
            stack.callback(sim.stop)

        settings = {
            "REDIS_URL": None,
            "REDIS_SENTINELS": cluster.setting,
            "REDIS_SENTINEL_SERVICE": SERVICE,
            "DEV_KEYS_DIR": str(keys),
            "WECHAT_GATEWAY_URL": sims["wechat"].url,
            "ALIPAY_GATEWAY_URL": sims["alipay"].url,
            **s3.settings(),
        }
        clock = Clock(datetime.now(UTC))  # every process reads the real clock
        app = create_app({**base_config(tmp_path, url, "redis://127.0.0.1:9/0"), **settings})
        app.extensions["portal.clock"] = clock
        ctx = app.app_context()
        ctx.push()
        stack.callback(ctx.pop)
        stack.callback(db.engine.dispose)
        stack.callback(db.session.remove)
        from portal.infra.migrations import upgrade

        upgrade()
        assert db.engine.dialect.name == "postgresql"

        env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "FLASK_"))}
        env.update(
            {
                "PORTAL_INSTANCE_PATH": str(tmp_path / "instance"),
                "PORTAL_DATABASE_URL": url,
                "PORTAL_REDIS_SENTINELS": cluster.setting,
                "PORTAL_REDIS_SENTINEL_SERVICE": SERVICE,
                "PORTAL_SECRET_KEY": "multi-node-" + "k" * 40,
                "PORTAL_ENVIRONMENT": "development",
                "PORTAL_AUDIT_SEAL_KEY": SEAL_KEY,
                "PORTAL_DEV_KEYS_DIR": str(keys),
                "PORTAL_WECHAT_GATEWAY_URL": sims["wechat"].url,
                "PORTAL_ALIPAY_GATEWAY_URL": sims["alipay"].url,
                "PORTAL_ARGON2_TIME_COST": "1",
                "PORTAL_ARGON2_MEMORY_COST": "1024",
                # every request of the test comes from 127.0.0.1
                "PORTAL_LOOKUP_RATE_LIMIT": "10000 per minute",
                "PORTAL_LOGIN_RATE_LIMIT": "10000 per minute",
                **{f"PORTAL_{k}": str(v) for k, v in s3.settings().items()},
            }
        )
        (tmp_path / "instance").mkdir()
        nodes = [_node(n, env, tmp_path / f"web-{n}.log") for n in ("a", "b")]
        for node in nodes:
            stack.callback(kill_group, node.proc)
        env["PORTAL_PUBLIC_BASE_URL"] = nodes[0].base
        app.config["PUBLIC_BASE_URL"] = nodes[0].base
        worker_logs = [tmp_path / f"worker{i}.log" for i in range(3)]
        workers = [_worker(env, log) for log in worker_logs]
        for w in workers:
            stack.callback(kill_group, w)
        for node in nodes:
            _wait_serving(node)
        phases["serving"] = time.monotonic()
        all_logs = [n.log for n in nodes] + worker_logs

        f.staff("multi-node")
        orders = []
        for n in range(BUYERS):
            channel = ("wechat", "alipay")[n % 2]
            order = f.order(clock(), channel=channel, amount_fen=1000 + 37 * n)
            p = order.payment
            sims[channel].add_trade(p.gateway_trade_id, p.merchant_trade_no, order.amount_fen)
            orders.append((order.order_no, order.amount_fen))
        db.session.remove()

        ledger = Ledger()
        reviewers = Reviewers()
        survivor, doomed = nodes

        def buyer_and_review(n: int, alternate: bool) -> None:
            node = nodes[n % 2] if alternate else survivor
            applied = _apply(orders[n], node.base, node.name, n, ledger)
            if applied is not None:
                _approve(applied, node.base, reviewers, ledger)

        first, second = BUYERS // 3, 2 * BUYERS // 3
        with ThreadPoolExecutor(3) as pool:
            # 1. both nodes up: uploads alternate between them
            for fut in [pool.submit(buyer_and_review, n, True) for n in range(first - 2)]:
                fut.result()
            wait_for(lambda: len(_moved(sims)) >= 1, 90, "a first refund paid before the kills")
            # 2. two buyers' applications on their way to the doomed node when it and a worker
            # are killed (each may have been answered, half done or not received at all)
            sending = [threading.Event(), threading.Event()]
            in_flight = [
                pool.submit(_apply, orders[n], doomed.base, doomed.name, n, ledger, ev)
                for n, ev in zip((first - 2, first - 1), sending, strict=True)
            ]
            wait_for(
                lambda: all(
                    ev.is_set() or fut.done() for ev, fut in zip(sending, in_flight, strict=True)
                ),
                60,
                "the two applications going out to the doomed node",
            )
            kill_group(doomed.proc)
            kill_group(workers[0])
            phases["killed"] = time.monotonic()
            for fut in in_flight:
                applied = fut.result()
                if applied is not None:  # it answered before it died: approved on the survivor
                    _approve(applied, survivor.base, reviewers, ledger)
            # 3. Redis fails over while buyers apply and reviewers approve on the survivor
            new_master = cluster.failover()
            during = [pool.submit(buyer_and_review, n, False) for n in range(first, second)]
            cluster.wait_failed_over(new_master, timeout=60)
            phases["failed over"] = time.monotonic()
            for fut in during:
                fut.result()
            for fut in [pool.submit(buyer_and_review, n, False) for n in range(second, BUYERS)]:
                fut.result()
        assert doomed.proc.poll() is not None and workers[0].poll() is not None
        with pytest.raises(requests.ConnectionError):
            requests.get(doomed.base + "/healthz", timeout=5)

        # the two workers left settle what they can; a job the killed worker held is found
        # again by the payout sweep (as the minute sweep does once it is due: here the
        # test's clock moves on and the sweep runs in the test, the workers still settling)
        try:
            wait_for(
                lambda: _unsettled() == 0 or _stalled(workers[1:]),
                90,
                "the live workers to settle every payout or run out of work",
                0.2,
            )
        except AssertionError:
            pass
        settled_live = len(_moved(sims))
        from jobs.runtime import set_app
        from jobs.sweeps import sweep_payouts

        set_app(app)
        for _ in range(4):
            if _unsettled() == 0:
                break
            clock.advance(hours=2)
            sweep_payouts(reschedule=False)
            try:
                wait_for(lambda: _unsettled() == 0, 60, "the swept payouts to settle", 0.2)
            except AssertionError:
                pass
        alive = [w.poll() is None for w in workers[1:]]
        phases["settled"] = time.monotonic()

        # every request that got a success answer is in the database
        db.session.expire_all()
        assert len(ledger.applied) >= BUYERS - 2, (len(ledger.applied), ledger.lost_in_crash)
        by_no = {
            c.case_no: c
            for c in db.session.scalars(
                select(RefundCase).where(
                    RefundCase.case_no.in_([a.case_no for a in ledger.applied])
                )
            )
        }
        assert set(by_no) == {a.case_no for a in ledger.applied}
        for a in ledger.applied:
            case = by_no[a.case_no]
            assert db.session.get(Order, case.order_id).order_no == a.order_no
            assert a.approved and case.state == "refunded", (a.case_no, case.state)
            rows = db.session.scalars(select(Evidence).where(Evidence.case_id == case.id)).all()
            assert sorted(r.original_name for r in rows) == sorted(a.files)
            # every upload readable from the surviving node by its buyer: what was stored (an
            # image is re-encoded without its metadata, a PDF kept as sent), its hash intact
            for row in rows:
                got = a.session.get(f"{survivor.base}/evidence/{row.id}", timeout=60)
                assert got.status_code == 200, (a.node, row.id, got.status_code)
                assert hashlib.sha256(got.content).hexdigest() == row.sha256, (a.node, row.id)
                sent = a.files[row.original_name]
                if row.original_name.endswith(".pdf"):
                    assert got.content == sent, (a.node, row.id)
                else:
                    assert Image.open(io.BytesIO(got.content)).size == (160, 120)
        # nothing half-written: every case (those of the requests lost with the killed node
        # too) has both its files, each in the store; a file the killed node put before it
        # died is at most an object no row names
        evidence_rows = db.session.scalars(select(Evidence)).all()
        per_case = Counter(r.case_id for r in evidence_rows)
        all_cases = db.session.scalars(select(RefundCase.id)).all()
        assert {c: per_case[c] for c in all_cases} == {c: 2 for c in all_cases}
        assert len(all_cases) <= BUYERS
        stored = s3.objects()
        names = {r.stored_name for r in evidence_rows} | {
            r.thumb_name for r in evidence_rows if r.thumb_name
        }
        assert names <= set(stored), names - set(stored)
        orphans = len(set(stored) - names)

        # a fresh web node joining afterwards serves every upload too
        fresh = _node("c", env, tmp_path / "web-c.log")
        stack.callback(kill_group, fresh.proc)
        _wait_serving(fresh)
        for a in ledger.applied:
            case = by_no[a.case_no]
            for row in db.session.scalars(select(Evidence).where(Evidence.case_id == case.id)):
                got = a.session.get(f"{fresh.base}/evidence/{row.id}", timeout=60)
                assert got.status_code == 200, (a.node, row.id, got.status_code)
                assert hashlib.sha256(got.content).hexdigest() == row.sha256, (a.node, row.id)

        # every approved refund paid exactly once, for its amount, on the simulators' ledgers
        expected = {p.idempotency_key: p.amount_fen for p in db.session.scalars(select(Payout))}
        assert len(expected) == len(db.session.scalars(select(Payout.case_id).distinct()).all()), (
            "a case with two payouts"
        )
        assert {c.id for c in by_no.values()} <= set(db.session.scalars(select(Payout.case_id)))
        assert set(db.session.scalars(select(Payout.state))) == {"succeeded"}, _logs(all_logs)
        moved = _moved(sims)
        keys_moved = [k for k, _ in moved]
        assert len(keys_moved) == len(set(keys_moved)), "a refund moved money twice"
        assert dict(moved) == expected, "a refund lost, or paid the wrong amount"
        assert all(alive), f"a worker died in the failover: {_logs(worker_logs)}"
        for node_log in (survivor.log, fresh.log):
            text = node_log.read_text(errors="replace")
            assert "Traceback" not in text, text[-4000:]
        print(
            f"\nmulti-node: {len(ledger.applied)} applications with 2 files each on 2 nodes"
            f" ({ledger.lost_in_crash} in flight lost with the killed node, {len(all_cases)}"
            f" cases in all, {orphans} objects no row names), {len(expected)}"
            f" refunds paid once, {settled_live} of them by the running workers before any"
            f" sweep; {ledger.retried_503} requests answered 503 during the failover and"
            f" were sent again; seconds from the start: "
            + ", ".join(f"{k} {v - started:.0f}" for k, v in phases.items())
            + f", checked {time.monotonic() - started:.0f}"
        )
