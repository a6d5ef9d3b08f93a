"""A million orders and a hundred thousand open cases on PostgreSQL: page latency, requests per
second under load, and the deadline sweep, each next to its anchor in the same run.

``python -m bench scale [--orders N] [--cases N] [--requests N] [--seconds S]``:

1. **Load**: a fresh database (``PORTAL_DATABASE_URL``, or ``DEFAULT_URL``, created if
   missing; its ``public`` schema emptied) migrated by the project's Alembic migrations, then
   filled with set-based SQL (``INSERT ... SELECT generate_series``): 50 shops with a product
   each, ``--orders`` orders with their payments, ``--cases`` open cases over every shop
   (each with its ``applied`` event and a notice for the shop), deadlines spread over the
   coming working days. A shop column on ``refund_cases`` (``merchant_id``/``shop_id``), once a
   migration adds one, is filled from the order. Then the dashboards' daily rollups of the
   loaded days are filled by the product's set-based rebuild, timed apart from the load, and
   the open backlog is counted as the worker counts it each minute.
2. **Latency**: the portal under gunicorn (2 sync workers, as deployed), logged-in sessions
   over real HTTP; ``--requests`` (200) sequential requests to each page of ``PAGES``,
   interleaved; p50/p95/p99 each. Goal: p95 <= 50 ms (the dashboards: 100 ms). The slowest
   statement on ``refund_cases`` of each list and dashboard page (found by timing every
   statement of one request in this process), and a dashboard's slowest on the rollups, is
   saved with its ``EXPLAIN (ANALYZE, BUFFERS)`` beside the figures.
3. **Throughput**: requests per second with 16 connections (``wrk`` when installed, else a
   threaded client in this process) for the buyer's case page and the review queue, next to
   a hello-world Flask app (``bench.hello``) and a minimal database page
   (``bench.minimal_db``) under the same gunicorn, rounds interleaved. Goal: the case page
   >= 0.5 x the minimal database page.
4. **Sweep**: the set-based deadline sweep (``deadline_bulk.run``) over every open case,
   with the clock moved past every deadline, next to the same writes in plain SQL (its
   floor: the events hash-chained as the audit trail asks, the hashes computed in Python and
   the rows sent by COPY), alternating, the database reset and vacuumed between. Goal: >= 0.9
   x the floor's speed. The set-based floor that writes no hashes is measured beside them.

The load average is printed at the start and end; figures, EXPLAINs and the command line are
written under ``bench/results/scale-<UTC time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from portal.domain import case_lists, deadlines
from portal.domain.policy import Reason
from portal.domain.states import State

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_scale"
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHOPS = 50
CONNECTIONS = 16
P95_GOAL_MS = 50.0
DASHBOARD_P95_GOAL_MS = 100.0  # issue 23: dashboard pages at this size
RATE_GOAL = 0.5  # the case page's requests/s over the minimal database page's
SWEEP_GOAL = 0.9  # the sweep's speed over the plain-SQL floor's
SECRET = "bench-scale-secret-key-not-for-production-use-0123456789"
STAFF_PASSWORD = "bench-pass-123"
QUERY_PASSWORD = "bench-query-1"
CONTACT = "13800000000"

#: the pages measured: name -> (who asks, path). Fields the loader knows are filled in:
#: {shop} a shop's slug, {shop_id} its id, {case_no}/{order_no} one open case and its order,
#: {contact} the buyer's contact, {deep_cursor} the page cursor after the queue's 1,000th
#: row (``portal.domain.case_lists``). The queue's and the shop list's parameters are those of
#: their filter forms.
PAGES: dict[str, tuple[str, str]] = {
    "queue_first": ("reviewer", "/review/"),
    "queue_filtered": ("reviewer", "/review/?shop={shop}&state=submitted&reason=unusable"),
    "queue_deep": ("reviewer", "/review/?after={deep_cursor}"),
    "queue_search": ("reviewer", "/review/?q={case_no}"),
    "merchant_list": ("merchant", "/merchant/"),
    "buyer_case": ("buyer", "/cases/{case_no}"),
    "dashboard_platform": ("supervisor", "/review/dashboard"),
    "dashboard_shop": ("merchant", "/merchant/dashboard"),
}
#: the pages whose main query is EXPLAINed
LISTS = ("queue_first", "queue_filtered", "queue_deep", "queue_search", "merchant_list")
#: the dashboards: their count over the open cases (the backlog by age) is EXPLAINed, and
#: their slowest statement on the rollups
DASHBOARDS = ("dashboard_platform", "dashboard_shop")
#: days of rollups filled after the load (the orders are paid over the last 60)
ROLLUP_DAYS = 62
#: under load: name -> (server, who asks, path)
LOADS: dict[str, tuple[str, str, str]] = {
    "hello": ("hello", "", "/"),
    "minimal_db": ("minimal", "", "/orders/{order_id}"),
    "buyer_case": ("portal", "buyer", "/cases/{case_no}"),
    "review_queue": ("portal", "reviewer", "/review/"),
}
#: open states the loaded cases are spread over (weights out of 100)
STATE_MIX = (
    (State.SUBMITTED, 60),
    (State.UNDER_REVIEW, 25),
    (State.NEEDS_INFO, 5),
    (State.NEGOTIATING, 5),
    (State.APPEALED, 3),
    (State.APPROVED, 2),
)


@dataclass
class Run:
    """What one run measured, written to ``figures.json``."""

    args: dict[str, Any]
    load_start: tuple[float, float, float]
    seconds_to_load: float = 0.0
    latency_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)
    sweep: dict[str, Any] = field(default_factory=dict)
    rollups: dict[str, Any] = field(default_factory=dict)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    tool: str = ""


# ---------------------------------------------------------------------------------------------
# the database


def _sqlalchemy_url(given: str | None) -> str:
    return given or os.environ.get("PORTAL_DATABASE_URL") or DEFAULT_URL


def create_database(url: str) -> None:
    """Create the database ``url`` names, if it does not exist yet (through the ``postgres``
    database of the same server)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}
            ).first()
            if not found:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _columns(conn: Any, table: str) -> dict[str, tuple[bool, bool]]:
    """Column name -> (NOT NULL, has a default) of ``table``."""
    rows = conn.exec_driver_sql(
        "SELECT column_name, is_nullable = 'NO', column_default IS NOT NULL"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s",
        (table,),
    ).all()
    return {name: (bool(required), bool(default)) for name, required, default in rows}


def _shop_column(conn: Any) -> str | None:
    """The shop column on refund_cases, if a migration has added one."""
    columns = _columns(conn, "refund_cases")
    return next((c for c in ("merchant_id", "shop_id") if c in columns), None)


def _state_case(n: str) -> str:
    """SQL choosing a case's state from ``STATE_MIX`` by ``n`` (0..99)."""
    parts, upto = [], 0
    for state, weight in STATE_MIX[:-1]:
        upto += weight
        parts.append(f"WHEN {n} < {upto} THEN '{state.value}'")
    return f"CASE {' '.join(parts)} ELSE '{STATE_MIX[-1][0].value}' END"


def load(conn: Any, orders: int, cases: int, now: datetime) -> dict[str, Any]:
    """Fill the migrated, empty database (see the module's docstring); what the pages need to
    know about it."""
    from portal.services.accounts.passwords import hash_password

    if cases > orders:
        raise ValueError("at most one open case per order")
    step = orders // cases
    password_hash = hash_password(QUERY_PASSWORD)
    ex = conn.exec_driver_sql
    ex(
        "INSERT INTO merchants (id, slug, name, created_at)"
        " SELECT g, 'shop' || g, 'Shop ' || g, %(now)s FROM generate_series(1, %(shops)s) g",
        {"now": now, "shops": SHOPS},
    )
    ex(
        "INSERT INTO products (id, merchant_id, sku, title, description, face_value_fen,"
        " price_fen, delivery_type, delivery_sla_minutes, refund_window_days, policy_text,"
        " policy_overrides_window)"
        " SELECT g, g, 'card', 'Game card ' || g, '', 10000, 9500, 'instant', 5, 7, '', false"
        " FROM generate_series(1, %(shops)s) g",
        {"shops": SHOPS},
    )
    # order g belongs to shop 1 + g % 50; paid and delivered within the last 60 days
    ex(
        "INSERT INTO orders (id, order_no, merchant_id, product_id, buyer_contact,"
        " query_password_hash, quantity, amount_fen, currency, created_at, paid_at,"
        " delivered_at, cancel_reason, goods_used, source_print)"
        " SELECT g, 'SO' || lpad(g::text, 8, '0'), 1 + g %% 50, 1 + g %% 50, %(contact)s,"
        " %(hash)s, 1, 9500, 'CNY', t, t, t + interval '1 minute', '', false, ''"
        " FROM (SELECT g, %(now)s - (g %% 86400) * interval '1 minute' AS t"
        "       FROM generate_series(1, %(orders)s) g) s",
        {"contact": CONTACT, "hash": password_hash, "now": now, "orders": orders},
    )
    ex(
        "INSERT INTO payments (id, order_id, channel, gateway_trade_id, merchant_trade_no,"
        " captured_fen, currency, paid_at, extra)"
        " SELECT id, id, 'alipay', 'T' || id, order_no, amount_fen, 'CNY', paid_at, '{}'"
        " FROM orders"
    )
    shop_column = _shop_column(conn)
    shop_insert = f", {shop_column}" if shop_column else ""
    shop_select = ", o.merchant_id" if shop_column else ""
    if "product_id" in _columns(conn, "refund_cases"):  # copied from the order since t23
        shop_insert += ", product_id, channel"
        shop_select += ", o.product_id, 'alipay'"
    # every step-th order has an open case; its review deadline 0-10 days ahead (a few
    # behind), the reminder a day before
    ex(
        "INSERT INTO refund_cases (id, case_no, order_id, open_order_id, kind, reason,"
        " explanation, amount_requested_fen, state, version, deadline_at, deadline_kind,"
        " remind_at, decision_note, info_request, appeal_count, auto_rule, created_at,"
        f" updated_at{shop_insert})"
        " SELECT c, 'RF' || lpad(c::text, 10, '0'), o.id, o.id, 'refund_only',"
        f" CASE WHEN c %% 3 = 0 THEN '{Reason.NOT_DELIVERED}' ELSE '{Reason.UNUSABLE}' END,"
        " 'the code is invalid',"
        f" o.amount_fen, {_state_case('(c * 37) %% 100')}, 1, d, %(review)s,"
        " d - interval '1 day', '', '', 0, '', %(now)s - interval '1 day',"
        f" %(now)s{shop_select}"
        " FROM (SELECT c, o.id, o.amount_fen, o.merchant_id, o.product_id,"
        "       %(now)s + ((c * 7919) %% 14400 - 600) * interval '1 minute' AS d"
        "       FROM generate_series(1, %(cases)s) c"
        "       JOIN orders o ON o.id = c * %(step)s) o",
        {"now": now, "cases": cases, "step": step, "review": deadlines.REVIEW},
    )
    for sql, values in (
        ("appeal_count = 1", {"state": State.APPEALED.value}),
        (
            "deadline_kind = %(kind)s",
            {"state": State.NEEDS_INFO.value, "kind": deadlines.BUYER_INFO},
        ),
        (
            "deadline_at = NULL, deadline_kind = '', remind_at = NULL",
            {"state": State.APPROVED.value},
        ),
    ):
        ex(f"UPDATE refund_cases SET {sql} WHERE state = %(state)s", values)
    ex(
        "INSERT INTO events (case_id, order_id, kind, actor_role, actor_id, actor_label,"
        " from_state, to_state, reason, data, created_at)"
        " SELECT id, order_id, 'applied', 'buyer', NULL, '', '', %(submitted)s,"
        " explanation, '{}', created_at FROM refund_cases",
        {"submitted": State.SUBMITTED.value},
    )
    ex(
        "INSERT INTO notices (audience, merchant_id, case_id, kind, message, params,"
        " created_at, attempts, last_error)"
        " SELECT 'merchant', o.merchant_id, c.id, 'state', 'Submitted',"
        " json_build_object('case_no', c.case_no), c.created_at, 0, ''"
        " FROM refund_cases c JOIN orders o ON o.id = c.order_id"
    )
    for table in ("merchants", "products", "orders", "payments", "refund_cases"):
        ex(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    ex("ANALYZE")
    return facts(conn, cases)


def fill_rollups(app: Any, now: datetime, out: Path | None = None) -> dict[str, Any]:
    """The dashboards' daily rollups of the loaded days, rebuilt set-based by the product's
    own rebuild (``portal.services.reports.rollups``: one INSERT ... SELECT), timed; then the
    open backlog's count the worker makes each minute (``portal.services.reports.backlog``),
    timed apart, its counting statement saved with its ``EXPLAIN (ANALYZE, BUFFERS)`` to
    ``out/explain-backlog_refresh.txt`` (run in a transaction rolled back)."""
    from portal.domain import rollups as days
    from portal.extensions import db
    from portal.services.reports import backlog, rollups

    first = days.day_of(now - timedelta(days=ROLLUP_DAYS))
    started = time.perf_counter()
    with app.app_context():
        rows = rollups.rebuild(first, days.day_of(now))
        took = time.perf_counter() - started
        today = days.day_of(now)
        started = time.perf_counter()
        rollups.rebuild(today, today)  # what the sweep asks for every minute
        today_s = time.perf_counter() - started
        started = time.perf_counter()
        with _timed_statements(db.engine) as seen:
            backlog.refresh()
        backlog_s = time.perf_counter() - started
        if out is not None:
            _explain_backlog(db.engine, seen, out)
        with db.engine.begin() as conn:  # as autovacuum would soon after
            conn.exec_driver_sql("ANALYZE daily_rollups")
    return {
        "days": ROLLUP_DAYS + 1,
        "rows": rows,
        "seconds": took,
        "today_seconds": today_s,
        "backlog_seconds": backlog_s,
    }


def _explain_backlog(engine: Any, seen: list[tuple[float, str, Any]], out: Path) -> None:
    """The backlog's count (the INSERT ... SELECT grouping the open cases) under EXPLAIN
    ANALYZE, after the snapshot's DELETE, in a transaction rolled back."""
    took, sql, params = next(s for s in seen if "refund_cases" in s[1])
    with engine.connect() as conn:
        conn.exec_driver_sql("DELETE FROM backlog_snapshots")
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).all()
        conn.rollback()
    text = "\n".join(row[0] for row in plan)
    (out / "explain-backlog_refresh.txt").write_text(
        f"-- the backlog's count (every minute) took {took * 1000:.2f} ms\n{sql}\n-- params:"
        f" {params}\n\n{text}\n"
    )


def loaded(conn: Any, orders: int, cases: int) -> bool:
    """Whether the database holds a load of this size already (``--reuse``)."""
    from sqlalchemy.exc import ProgrammingError

    try:
        got = conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM orders), (SELECT count(*) FROM refund_cases),"
            " (SELECT count(*) FROM users WHERE username LIKE 'bench-%%')"
        ).one()
    except ProgrammingError:  # no tables yet
        return False
    return tuple(got) == (orders, cases, len(STAFF))


def facts(conn: Any, cases: int) -> dict[str, Any]:
    """What the pages' URLs need to know about the loaded database."""
    shop_column = _shop_column(conn)
    # the buyer's case: one from the middle, under review
    case_no, order_no, order_id = conn.exec_driver_sql(
        "SELECT c.case_no, o.order_no, o.id FROM refund_cases c JOIN orders o ON o.id = c.order_id"
        " WHERE c.state = %(submitted)s ORDER BY c.id OFFSET %(n)s LIMIT 1",
        {"n": cases // 2, "submitted": State.SUBMITTED.value},
    ).one()
    # the queue's 1,000th row, in the queue's order (open cases by deadline, then id)
    deep = conn.exec_driver_sql(
        "SELECT deadline_at, id FROM refund_cases"
        " WHERE open_order_id IS NOT NULL AND deadline_at IS NOT NULL"
        " ORDER BY deadline_at, id OFFSET 999 LIMIT 1"
    ).first()
    deep_cursor = ""
    if deep is not None:
        when = deep[0] if deep[0].tzinfo else deep[0].replace(tzinfo=UTC)
        deep_cursor = case_lists.encode(case_lists.Position(when, deep[1]))
    return {
        "shop": "shop1",
        "shop_id": 1,
        "case_no": case_no,
        "order_no": order_no,
        "order_id": order_id,
        "contact": CONTACT,
        "deep_cursor": deep_cursor,
        "shop_column": shop_column or "",
    }


#: the staff logins a load creates: (username, role, shop)
STAFF = (
    ("bench-reviewer", "reviewer", None),
    ("bench-supervisor", "supervisor", None),
    ("bench-shop", "merchant", "shop1"),
)


def _staff(app: Any) -> None:
    from portal.extensions import db
    from portal.services.accounts.staff import create_staff_user

    with app.app_context():
        for username, role, shop in STAFF:
            create_staff_user(username, STAFF_PASSWORD, role, shop)
        db.session.commit()


# ---------------------------------------------------------------------------------------------
# servers and sessions


@contextmanager
def _gunicorn(target: str, port: int, env: dict[str, str]) -> Iterator[int]:
    from bench.rss import gunicorn

    with gunicorn(target, port, env):
        yield port


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _form_token(html: str) -> str:
    m = _CSRF.search(html)
    if not m:
        raise RuntimeError("no csrf token on the page")
    return m.group(1)


def sessions(base: str, known: dict[str, Any]) -> dict[str, Any]:
    """Logged-in ``requests`` sessions: the buyer (after the order lookup), a reviewer and the
    first shop's staff."""
    import requests

    out: dict[str, Any] = {"": requests.Session()}
    buyer = requests.Session()
    token = _form_token(buyer.get(base + "/", timeout=30).text)
    r = buyer.post(
        base + "/lookup",
        data={
            "csrf_token": token,
            "order_no": known["order_no"],
            "contact": CONTACT,
            "password": QUERY_PASSWORD,
        },
        timeout=30,
    )
    r.raise_for_status()
    out["buyer"] = buyer
    staff = (
        ("reviewer", "bench-reviewer"),
        ("supervisor", "bench-supervisor"),
        ("merchant", "bench-shop"),
    )
    for who, username in staff:
        s = requests.Session()
        token = _form_token(s.get(base + "/staff/login", timeout=30).text)
        r = s.post(
            base + "/staff/login",
            data={"csrf_token": token, "username": username, "password": STAFF_PASSWORD},
            timeout=30,
            allow_redirects=False,
        )
        if r.status_code != 303:
            raise RuntimeError(f"{username} could not log in: {r.status_code}")
        out[who] = s
    return out


def _cookie(session: Any) -> str:
    return "; ".join(f"{k}={v}" for k, v in session.cookies.get_dict().items())


# ---------------------------------------------------------------------------------------------
# latency


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50, p95 and p99 (nearest rank) of ``samples``, and their count."""
    ordered = sorted(samples)

    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]

    return {"p50": rank(50), "p95": rank(95), "p99": rank(99), "n": float(len(ordered))}


def latency(base: str, who: dict[str, Any], urls: dict[str, tuple[str, str]], n: int) -> dict:
    """``n`` sequential requests to each URL, interleaved (after 5 unmeasured each); ms."""
    samples: dict[str, list[float]] = {name: [] for name in urls}
    for i in range(n + 5):
        for name, (role, path) in urls.items():
            started = time.perf_counter()
            r = who[role].get(base + path, timeout=30, allow_redirects=False)
            elapsed = (time.perf_counter() - started) * 1000
            if r.status_code != 200:
                raise RuntimeError(f"{name}: {path} answered {r.status_code}")
            if i >= 5:
                samples[name].append(elapsed)
    return {name: percentiles(s) for name, s in samples.items()}


# ---------------------------------------------------------------------------------------------
# throughput


def _wrk(url: str, cookie: str, seconds: float) -> tuple[float, int]:
    """(requests/s, responses that were not 2xx/3xx) from wrk with ``CONNECTIONS``."""
    cmd = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{max(1, round(seconds))}s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rate, int(bad.group(1)) if bad else 0


def _threaded(url: str, cookie: str, seconds: float) -> tuple[float, int]:
    """The same from ``CONNECTIONS`` threads in this process, each with its own session."""
    import requests

    stop = time.monotonic() + seconds
    done, bad = [0] * CONNECTIONS, [0] * CONNECTIONS

    def client(i: int) -> None:
        s = requests.Session()
        headers = {"Cookie": cookie} if cookie else {}
        while time.monotonic() < stop:
            r = s.get(url, headers=headers, timeout=30, allow_redirects=False)
            done[i] += 1
            bad[i] += r.status_code >= 400

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started), sum(bad)


def load_tool() -> str:
    """``wrk`` when it is installed, else the threaded client."""
    return "wrk" if shutil.which("wrk") else "threads"


def rates(
    targets: dict[str, tuple[str, str]], seconds: float, rounds: int, tool: str
) -> dict[str, float]:
    """Requests/s of each (url, cookie), ``rounds`` rounds interleaved; the median of each."""
    measure = _wrk if tool == "wrk" else _threaded
    got: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(rounds):
        for name, (url, cookie) in targets.items():
            rate, bad = measure(url, cookie, seconds)
            if bad:
                raise RuntimeError(f"{name}: {bad} error answers under load")
            got[name].append(rate)
    return {name: statistics.median(v) for name, v in got.items()}


# ---------------------------------------------------------------------------------------------
# the main query of each list, EXPLAINed


@contextmanager
def _timed_statements(engine: Any) -> Iterator[list[tuple[float, str, Any]]]:
    from sqlalchemy import event

    seen: list[tuple[float, str, Any]] = []
    starts: list[float] = []

    def before(conn, cursor, statement, params, context, executemany) -> None:
        starts.append(time.perf_counter())

    def after(conn, cursor, statement, params, context, executemany) -> None:
        seen.append((time.perf_counter() - starts.pop(), statement, params))

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)


def explain_lists(app: Any, known: dict[str, Any], out: Path) -> dict[str, float]:
    """Each list page requested once in this process (a logged-in test client); its slowest
    statement that reads refund_cases run again under ``EXPLAIN (ANALYZE, BUFFERS)`` and saved
    to ``explain-<page>.txt``. The statement's own time in ms per page."""
    from portal.extensions import db

    app.config["WTF_CSRF_ENABLED"] = False
    found: dict[str, float] = {}
    with app.app_context():
        engine = db.engine
    # each request in its own app context, as in a server (nothing kept on ``g`` between)
    clients = {}
    for role, username in (
        ("reviewer", "bench-reviewer"),
        ("merchant", "bench-shop"),
        ("supervisor", "bench-supervisor"),
    ):
        client = app.test_client()
        r = client.post("/staff/login", data={"username": username, "password": STAFF_PASSWORD})
        if r.status_code != 303:
            raise RuntimeError(f"{username} could not log in here: {r.status_code}")
        clients[role] = client
    for name in (*LISTS, *DASHBOARDS):
        role, path = PAGES[name]
        client = clients[role]
        client.get(path.format(**known))  # warm
        with _timed_statements(engine) as seen:
            r = client.get(path.format(**known))
        if r.status_code != 200:
            raise RuntimeError(f"{name}: {r.status_code}")
        lists = [s for s in seen if "refund_cases" in s[1]]
        seconds, statement, params = max(lists or seen)
        explained = [("on refund_cases" if lists else "", seconds, statement, params)]
        if name in DASHBOARDS:  # and the slowest on the rollups
            rolled = max(s for s in seen if "daily_rollups" in s[1])
            if rolled[1] != statement:
                explained.append(("on daily_rollups", *rolled))
        texts = []
        for what, took, sql, values in explained:
            with engine.connect() as conn:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql, values).all()
            text = "\n".join(row[0] for row in plan)
            texts.append(
                f"-- the slowest statement {what} took {took * 1000:.2f} ms\n{sql}\n-- params:"
                f" {values}\n\n{text}\n"
            )
        (out / f"explain-{name}.txt").write_text(
            f"-- {name}: GET {path.format(**known)}\n-- {len(seen)} statements\n" + "\n".join(texts)
        )
        found[name] = seconds * 1000
    app.config["WTF_CSRF_ENABLED"] = True
    return found


# ---------------------------------------------------------------------------------------------
# the sweep and its floor


def _floor(conn: Any, now: datetime) -> int:
    """The sweep's writes for every open case due at ``now``, in plain SQL, one transaction:
    both markers in one UPDATE, the two kinds of events and three kinds of notices each one
    INSERT ... SELECT. Rows written."""
    from portal.domain import deadlines, states
    from portal.domain.notes import Note
    from portal.services.actors import SYSTEM
    from portal.services.messaging import notices
    from portal.services.refunds.transitions import with_note

    review = tuple(str(s) for s in states.REVIEW_QUEUE_STATES)
    p = {
        "now": now,
        "review": list(review),
        "kind": deadlines.REVIEW,
        "label": SYSTEM.label,
        "role": str(SYSTEM.role),
        "plain": json.dumps(with_note(None, None)),
        "noted": json.dumps(with_note(None, Note("review_target_passed"))),
        "m_remind": notices.REVIEW_REMINDER,
        "m_staff": notices.ESCALATED_STAFF,
        "m_buyer": notices.ESCALATED_BUYER,
    }
    remind = "remind_at <= %(now)s AND reminded_at IS NULL"
    escalate = "deadline_kind = %(kind)s AND deadline_at <= %(now)s AND escalated_at IS NULL"
    ex = conn.exec_driver_sql
    written = ex(
        f"UPDATE refund_cases SET reminded_at = CASE WHEN {remind} THEN %(now)s"
        f" ELSE reminded_at END, escalated_at = CASE WHEN {escalate} THEN %(now)s"
        f" ELSE escalated_at END WHERE state = ANY(%(review)s) AND (({remind}) OR ({escalate}))",
        p,
    ).rowcount
    event = (
        "INSERT INTO events (case_id, order_id, payout_id, kind, actor_role, actor_id,"
        " actor_label, from_state, to_state, reason, data, created_at)"
        " SELECT id, order_id, NULL, %(ekind)s, %(role)s, NULL, %(label)s, '', '', '', {data},"
        " %(now)s FROM refund_cases WHERE {marker} = %(now)s"
    )
    notice = (
        "INSERT INTO notices (audience, order_id, merchant_id, case_id, kind, message, params,"
        " created_at, attempts, last_error)"
        " SELECT %(aud)s, {order}, NULL, id, %(nkind)s, {message},"
        " json_build_object('case_no', case_no), %(now)s, 0, ''"
        " FROM refund_cases WHERE {marker} = %(now)s"
    )
    for kind, data, marker in (
        ("review_reminder", "%(plain)s", "reminded_at"),
        ("escalated", "%(noted)s", "escalated_at"),
    ):
        sql = event.format(data=data, marker=marker)
        written += ex(sql, {**p, "ekind": kind}).rowcount
    for aud, kind, message, marker in (
        (notices.STAFF, "review_reminder", "%(m_remind)s", "reminded_at"),
        (notices.STAFF, "escalated", "%(m_staff)s", "escalated_at"),
        (notices.BUYER, "escalated", "%(m_buyer)s", "escalated_at"),
    ):
        order = "order_id" if aud == notices.BUYER else "NULL"
        sql = notice.format(order=order, message=message, marker=marker)
        written += ex(sql, {**p, "aud": aud, "nkind": kind}).rowcount
    return written


def _chained_floor(conn: Any, now: datetime) -> int:
    """The same writes as ``_floor`` with the events linked into their hash chains, as the
    audit trail asks of every event: the markers set by one UPDATE that returns the cases it
    marked, their chain heads read in one SELECT, each link's hash computed in Python (the
    canonical form is JSON and SHA-256: plain SQL cannot compute it), the events sent by COPY,
    the heads moved by one upsert from arrays, the notices as ``_floor``'s. Rows written."""
    from portal.domain import audit_chain, deadlines, states
    from portal.domain.notes import Note
    from portal.services.actors import SYSTEM
    from portal.services.messaging import notices
    from portal.services.refunds.transitions import with_note

    review = [str(s) for s in states.REVIEW_QUEUE_STATES]
    p = {"now": now, "review": review, "kind": deadlines.REVIEW}
    remind = "remind_at <= %(now)s AND reminded_at IS NULL"
    escalate = "deadline_kind = %(kind)s AND deadline_at <= %(now)s AND escalated_at IS NULL"
    ex = conn.exec_driver_sql
    marked = ex(
        f"UPDATE refund_cases SET reminded_at = CASE WHEN {remind} THEN %(now)s"
        f" ELSE reminded_at END, escalated_at = CASE WHEN {escalate} THEN %(now)s"
        f" ELSE escalated_at END WHERE state = ANY(%(review)s) AND (({remind}) OR ({escalate}))"
        " RETURNING id, order_id, reminded_at = %(now)s, escalated_at = %(now)s",
        p,
    ).all()
    common = {
        "payout_id": None,
        "actor_role": str(SYSTEM.role),
        "actor_id": None,
        "actor_label": SYSTEM.label,
        "from_state": "",
        "to_state": "",
        "reason": "",
        "created_at": now,
    }
    noted = audit_chain.normal_data(with_note(None, Note("review_target_passed")))
    events = [
        {**common, "kind": kind, "case_id": case_id, "order_id": order_id, "data": data}
        for kind, data, flag in (("review_reminder", {}, 2), ("escalated", noted, 3))
        for case_id, order_id, *flags in marked
        if flags[flag - 2]
    ]
    chains = sorted({audit_chain.case_chain(e["case_id"]) for e in events})
    heads = {
        chain: (seq, head)
        for chain, seq, head in ex(
            "SELECT chain, seq, hash FROM audit_chain_heads WHERE chain = ANY(%(c)s)",
            {"c": chains},
        ).all()
    }
    columns = (*audit_chain.CONTENT_FIELDS, "prev_hash", "hash")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur:
        with cur.copy(f"COPY events ({', '.join(columns)}) FROM STDIN") as copy:
            for event in events:
                chain = audit_chain.case_chain(event["case_id"])
                seq, prev = heads.get(chain, (0, audit_chain.GENESIS))
                event["chain"], event["chain_seq"] = chain, seq + 1
                event["prev_hash"], event["hash"] = prev, audit_chain.link_hash(prev, event)
                heads[chain] = (seq + 1, event["hash"])
                copy.write_row(
                    [json.dumps(event["data"]) if c == "data" else event[c] for c in columns]
                )
    ex(
        "INSERT INTO audit_chain_heads (chain, seq, hash)"
        " SELECT * FROM unnest(%(c)s::text[], %(s)s::int[], %(h)s::text[])"
        " ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        {
            "c": chains,
            "s": [heads[c][0] for c in chains],
            "h": [heads[c][1] for c in chains],
        },
    )
    written = len(marked) + len(events)
    notice = (
        "INSERT INTO notices (audience, order_id, merchant_id, case_id, kind, message, params,"
        " created_at, attempts, last_error)"
        " SELECT %(aud)s, {order}, NULL, id, %(nkind)s, %(message)s,"
        " json_build_object('case_no', case_no), %(now)s, 0, ''"
        " FROM refund_cases WHERE {marker} = %(now)s"
    )
    for aud, kind, message, marker in (
        (notices.STAFF, "review_reminder", notices.REVIEW_REMINDER, "reminded_at"),
        (notices.STAFF, "escalated", notices.ESCALATED_STAFF, "escalated_at"),
        (notices.BUYER, "escalated", notices.ESCALATED_BUYER, "escalated_at"),
    ):
        order = "order_id" if aud == notices.BUYER else "NULL"
        sql = notice.format(order=order, marker=marker)
        written += ex(sql, {**p, "aud": aud, "nkind": kind, "message": message}).rowcount
    return written


def _written_by(conn: Any, now: datetime) -> int:
    """Rows the sweep (or the floor) wrote at ``now``: markers, events, notices."""
    return int(
        conn.exec_driver_sql(
            "SELECT (SELECT count(*) FROM refund_cases WHERE reminded_at = %(t)s"
            " OR escalated_at = %(t)s) + (SELECT count(*) FROM events WHERE created_at = %(t)s)"
            " + (SELECT count(*) FROM notices WHERE created_at = %(t)s)",
            {"t": now},
        ).scalar_one()
    )


def _undo(engine: Any, now: datetime) -> None:
    """Take back what a sweep (or the floor) wrote at ``now`` and vacuum, so the next one
    starts from the same tables. The events' append-only triggers are off for the DELETE."""
    with engine.begin() as conn:
        ex = conn.exec_driver_sql
        ex("DELETE FROM notices WHERE created_at = %(t)s", {"t": now})
        ex("DELETE FROM audit_chain_heads")
        ex("INSERT INTO audit_chain_heads SELECT * FROM bench_saved_heads")
        ex("ALTER TABLE events DISABLE TRIGGER USER")
        ex("DELETE FROM events WHERE created_at = %(t)s", {"t": now})
        ex("ALTER TABLE events ENABLE TRIGGER USER")
        ex(
            "UPDATE refund_cases SET reminded_at = NULL, escalated_at = NULL"
            " WHERE reminded_at = %(t)s OR escalated_at = %(t)s",
            {"t": now},
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) refund_cases, events, notices, audit_chain_heads")


def _cpu_seconds(engine: Any) -> float:
    """CPU seconds used so far by this process and by the database's server processes
    connected to the bench's database: a measure the machine's other load barely moves, where
    wall time under load says more about the neighbours than about the sweep."""
    import psutil

    with engine.connect() as conn:
        pids = conn.exec_driver_sql(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        ).scalars()
        total = time.process_time()
        for pid in pids:
            try:
                cpu = psutil.Process(pid).cpu_times()
            except psutil.Error:  # gone, or not ours to read
                continue
            total += cpu.user + cpu.system
    return total


def sweep_vs_floor(app: Any, now: datetime, rounds: int) -> dict[str, Any]:
    """``rounds`` of (floor, sweep) at ``now``, each undone after; median seconds of each."""
    from portal.extensions import db
    from portal.services.deadlines import deadline_bulk

    floors = {"floor": _floor, "chained_floor": _chained_floor}
    times: dict[str, list[float]] = {"floor": [], "chained_floor": [], "sweep": []}
    cpu: dict[str, list[float]] = {name: [] for name in times}
    written: dict[str, int] = {}
    with app.app_context():
        app.extensions["portal.clock"] = lambda: now
        engine = db.engine
        with engine.begin() as conn:  # every run starts from these heads (``_undo``)
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_saved_heads")
            conn.exec_driver_sql(
                "CREATE TABLE bench_saved_heads AS SELECT * FROM audit_chain_heads"
            )
        _undo(engine, now)
        for _ in range(rounds):
            for name in times:
                started, cpu_before = time.perf_counter(), _cpu_seconds(engine)
                if name in floors:
                    with engine.begin() as conn:
                        floors[name](conn, now)
                else:
                    deadline_bulk.run(now)
                times[name].append(time.perf_counter() - started)
                cpu[name].append(_cpu_seconds(engine) - cpu_before)
                db.session.remove()
                with engine.connect() as conn:
                    written[name] = _written_by(conn, now)
                _undo(engine, now)
        del app.extensions["portal.clock"]
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE bench_saved_heads")
    if len(set(written.values())) != 1:
        raise RuntimeError(f"the floors and the sweep wrote different rows: {written}")
    floor, sweep = statistics.median(times["floor"]), statistics.median(times["sweep"])
    chained = statistics.median(times["chained_floor"])
    return {
        "floor_s": floor,
        "chained_floor_s": chained,
        "sweep_s": sweep,
        "rows": written["sweep"],
        "ratio": chained / sweep,
        "ratio_unchained": floor / sweep,
        "all_s": times,
        # CPU seconds (this process and the database's backends), medians; and the ratio
        "cpu_s": {name: statistics.median(values) for name, values in cpu.items()},
        "ratio_cpu": statistics.median(cpu["chained_floor"]) / statistics.median(cpu["sweep"]),
    }


# ---------------------------------------------------------------------------------------------
# the run


def p95_goal(page: str) -> float:
    """The p95 goal of a measured page, in milliseconds."""
    return DASHBOARD_P95_GOAL_MS if page.startswith("dashboard") else P95_GOAL_MS


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _app(url: str, redis_url: str, tmp: Path) -> Any:
    from portal import create_app

    return create_app(
        {
            "SECRET_KEY": SECRET,
            "ENVIRONMENT": "development",
            "DATABASE_URL": url,
            "REDIS_URL": redis_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "EVIDENCE_DIR": str(tmp / "evidence"),
            "DEV_KEYS_DIR": str(tmp / "keys"),
        }
    )


def _served(
    args: argparse.Namespace,
    result: Run,
    app: Any,
    known: dict[str, Any],
    stack: ExitStack,
    where: tuple[str, str, Path],
    out: Path,
    phases: set[str],
) -> dict[str, float]:
    """The phases over HTTP: latency (with the lists' EXPLAINs) and requests/s under load;
    the main list statements' own times."""
    from bench.stack import free_port

    url, redis_url, tmp = where
    main_ms: dict[str, float] = {}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    portal_env = {
        **env,
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_ENVIRONMENT": "development",
        "PORTAL_DATABASE_URL": url,
        "PORTAL_REDIS_URL": redis_url,
        "PORTAL_EVIDENCE_DIR": str(tmp / "evidence"),
        "PORTAL_LOGIN_RATE_LIMIT": "1000 per minute",
    }
    minimal_env = {**env, "BENCH_MINIMAL_DATABASE_URL": url}
    ports = {"portal": free_port(), "hello": free_port(), "minimal": free_port()}
    stack.enter_context(_gunicorn("portal:create_app()", ports["portal"], portal_env))
    stack.enter_context(_gunicorn("bench.hello:app", ports["hello"], env))
    stack.enter_context(_gunicorn("bench.minimal_db:app", ports["minimal"], minimal_env))
    base = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    who = sessions(base["portal"], known)

    if "latency" in phases:
        pages = {name: (role, path.format(**known)) for name, (role, path) in PAGES.items()}
        result.latency_ms = latency(base["portal"], who, pages, args.requests)
        for name, figures in result.latency_ms.items():
            goal = p95_goal(name)
            ok = figures["p95"] <= goal
            print(
                f"  {name:<18} p50 {figures['p50']:6.1f}  p95 {figures['p95']:6.1f}  p99"
                f" {figures['p99']:6.1f} ms  (goal p95 <= {goal:.0f}: {_verdict(ok)})",
                flush=True,
            )
        main_ms = explain_lists(app, known, out)
        print(
            "  main list queries (EXPLAIN beside the figures): "
            + ", ".join(f"{k} {v:.1f} ms" for k, v in main_ms.items()),
            flush=True,
        )
    if "load" not in phases:
        return main_ms

    targets = {
        name: (base[server] + path.format(**known), _cookie(who[role]))
        for name, (server, role, path) in LOADS.items()
    }
    result.rates = rates(targets, args.seconds, args.rounds, result.tool)
    hello, minimal = result.rates["hello"], result.rates["minimal_db"]
    print(f"  under load ({CONNECTIONS} connections, {result.tool}, median of {args.rounds}):")
    for name, rate in result.rates.items():
        print(
            f"    {name:<13} {rate:8.1f} req/s  {rate / hello:5.3f} x hello-world"
            f"  {rate / minimal:5.3f} x minimal db page",
            flush=True,
        )
    ok = result.rates["buyer_case"] >= RATE_GOAL * minimal
    print(f"    case page >= {RATE_GOAL} x minimal db page: {_verdict(ok)}")

    return main_ms


def _sweep_phase(result: Run, app: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)  # every case due
    result.sweep = sweep_vs_floor(app, now, result.args["sweep_rounds"])
    s = result.sweep
    print(
        f"  sweep of every due case: {s['sweep_s']:.2f} s, plain-SQL floor with the events"
        f" hash-chained {s['chained_floor_s']:.2f} s ({s['rows']} rows written each), speed"
        f" {s['ratio']:.2f} x the floor's (goal >= {SWEEP_GOAL}:"
        f" {_verdict(s['ratio'] >= SWEEP_GOAL)}); against the set-based floor that writes no"
        f" hashes ({s['floor_s']:.2f} s): {s['ratio_unchained']:.2f} x"
    )
    c = s["cpu_s"]
    print(
        f"  CPU seconds (bench process and database backends): sweep {c['sweep']:.2f},"
        f" chained floor {c['chained_floor']:.2f}, floor {c['floor']:.2f}; speed by CPU"
        f" {s['ratio_cpu']:.2f} x the chained floor's"
    )


def run(args: argparse.Namespace) -> Run:
    """Load, then measure; the figures (also written under ``bench/results``)."""
    import tempfile

    from redis import Redis

    from portal.extensions import db
    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
    from portal.infra.migrations import upgrade

    result = Run(args=vars(args), load_start=os.getloadavg(), tool=args.tool or load_tool())
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else RESULTS / f"scale-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    url = _sqlalchemy_url(args.database_url)
    create_database(url)
    tmp = Path(tempfile.mkdtemp(prefix="portal-scale-"))
    now = datetime.now(UTC).replace(microsecond=0)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, tmp, True)
        redis_url = args.redis_url or os.environ.get("PORTAL_REDIS_URL")
        if not redis_url:
            redis_url = start_embedded_redis(str(tmp))
            stack.callback(stop_embedded_redis)
        Redis.from_url(redis_url).flushdb()
        app = _app(url, redis_url, tmp)
        started = time.perf_counter()
        with app.app_context():
            with db.engine.begin() as conn:
                reuse = args.reuse and loaded(conn, args.orders, args.cases)
            if reuse:
                with db.engine.begin() as conn:
                    known = facts(conn, args.cases)
            else:
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                upgrade()
                with db.engine.begin() as conn:
                    known = load(conn, args.orders, args.cases, now)
            db.engine.dispose()
        if not reuse:
            _staff(app)
        result.seconds_to_load = time.perf_counter() - started
        print(
            f"  {'reused' if reuse else 'loaded'} {args.orders} orders, {args.cases} open cases"
            f" over {SHOPS} shops in {result.seconds_to_load:.1f} s (migrations included; shop"
            f" column on cases: {known['shop_column'] or 'none yet'})",
            flush=True,
        )
        result.rollups = fill_rollups(app, now, out)
        r = result.rollups
        print(
            f"  rolled up {r['days']} days into {r['rows']} rows in {r['seconds']:.1f} s"
            f" (set-based, timed apart from the load); today's rebuild (every minute)"
            f" {r['today_seconds'] * 1000:.0f} ms, the backlog's count (every minute)"
            f" {r['backlog_seconds'] * 1000:.0f} ms",
            flush=True,
        )
        phases = set(args.phases.split(","))
        main_ms: dict[str, float] = {}
        if phases & {"latency", "load"}:
            where = (url, redis_url, tmp)
            main_ms = _served(args, result, app, known, stack, where, out, phases)
        if "sweep" in phases:
            _sweep_phase(result, app)
    result.load_end = os.getloadavg()
    print(
        f"  load average {result.load_start[0]:.2f} at start, {result.load_end[0]:.2f} at end;"
        f" figures in {out}"
    )
    (out / "figures.json").write_text(
        json.dumps(
            {
                **result.__dict__,
                "command": " ".join(sys.argv),
                "known": known,
                "explained_ms": main_ms,
            },
            indent=2,
            default=str,
        )
    )
    return result


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench scale")
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200, help="sequential requests per page")
    p.add_argument("--seconds", type=float, default=10.0, help="each load phase")
    p.add_argument("--rounds", type=int, default=2, help="load phases per target, interleaved")
    p.add_argument("--sweep-rounds", type=int, default=2)
    p.add_argument("--tool", choices=("wrk", "threads"), help="default: wrk if installed")
    p.add_argument("--database-url", help="default: PORTAL_DATABASE_URL, else " + DEFAULT_URL)
    p.add_argument("--redis-url", help="default: PORTAL_REDIS_URL, else an embedded Redis")
    p.add_argument(
        "--phases", default="latency,load,sweep", help="which to measure (comma-separated)"
    )
    p.add_argument(
        "--reuse", action="store_true", help="keep a database already loaded at this size"
    )
    p.add_argument("--out", help="where the figures go (default bench/results/scale-<time>)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Run:
    """``python -m bench scale``; the run's figures."""
    args = parse(argv or [])
    # stop cleanly (the servers with it) on SIGTERM, and on Ctrl-C even when started in the
    # background (where a shell starts it with SIGINT ignored)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    print(
        f"scale: {args.orders} orders, {args.cases} open cases; load average"
        f" {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    return run(args)


if __name__ == "__main__":
    main(sys.argv[1:])
