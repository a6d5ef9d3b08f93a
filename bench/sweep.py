"""The deadline sweep over 100k open cases in PostgreSQL: time (goal <= 5 s) and memory
(flat: the peak for 100k cases next to the peak for 10k, measured in the same run)."""

from __future__ import annotations

import os
import time
import tracemalloc
from datetime import UTC, datetime, timedelta

N = int(os.environ.get("BENCH_CASES", "100000"))
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_bench"


def _seed(n: int, offset: int, now: datetime) -> None:
    """Insert n paid orders with an open, overdue case each, in two INSERT ... SELECT statements."""
    from portal.domain.states import State
    from portal.extensions import db

    params = {"n": n, "off": offset, "now": now, "past": now - timedelta(days=1)}
    db.session.execute(
        db.text(
            "INSERT INTO orders (order_no, merchant_id, product_id, buyer_contact, query_password_hash,"
            " quantity, amount_fen, currency, created_at, paid_at, cancel_reason, goods_used)"
            " SELECT 'B' || (g + :off), 1, 1, 'b@example.com', 'x', 1, 100, 'CNY', :past, :past, '', false"
            " FROM generate_series(1, :n) AS g"
        ),
        params,
    )
    db.session.execute(
        db.text(
            "INSERT INTO refund_cases (case_no, order_id, merchant_id, open_order_id, kind, reason, explanation,"
            " amount_requested_fen, state, version, deadline_at, deadline_kind, remind_at,"
            " decision_note, info_request, appeal_count, auto_rule, created_at, updated_at)"
            " SELECT 'C' || o.order_no, o.id, o.merchant_id, o.id, 'refund_only', 'unusable', '', 100, :state, 1,"
            " :past, 'review', :past, '', '', 0, '', :past, :past"
            " FROM orders o WHERE o.order_no LIKE 'B%' AND o.id > COALESCE((SELECT max(order_id) FROM refund_cases), 0)"
        ),
        {**params, "state": State.SUBMITTED},
    )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # what autovacuum does soon after a bulk load: without statistics the planner takes
        # 100k rows for a few hundred and scans the table for each page of the sweep
        db.session.execute(db.text("ANALYZE orders, refund_cases"))
        db.session.commit()


def _sweep() -> tuple[float, int, int]:
    from jobs.sweeps import sweep_deadlines

    tracemalloc.start()
    started = time.perf_counter()
    count = sweep_deadlines()
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return elapsed, count, peak


def main() -> dict[str, float]:
    """Seed, sweep 10k, then sweep N (after adding the rest), and print the figures."""
    import subprocess

    from bench.stack import bench_app
    from jobs.runtime import set_app
    from portal.extensions import db
    from portal.models import Merchant, Product

    url = os.environ.get("PORTAL_DATABASE_URL")
    if not url:
        psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc"]
        subprocess.run([*psql, "DROP DATABASE IF EXISTS refund_portal_bench"], check=False)
        subprocess.run([*psql, "CREATE DATABASE refund_portal_bench"], check=True)
        os.environ["PORTAL_DATABASE_URL"] = PG
    try:
        with bench_app() as (app, _tmp):
            set_app(app)
            now = datetime.now(UTC)
            db.session.add(Merchant(id=1, slug="bench", name="bench"))
            db.session.add(Product(id=1, merchant_id=1, sku="b", title="b", price_fen=100))
            db.session.commit()
            small = min(10_000, N)
            _seed(small, 0, now)
            t_small, c_small, m_small = _sweep()
            _seed(N, small, now)
            t_big, c_big, m_big = _sweep()
            dialect = db.engine.dialect.name
    finally:
        if not url:
            del os.environ["PORTAL_DATABASE_URL"]
    result = {
        "cases": N,
        "seconds": t_big,
        "rows_marked": c_big,
        "peak_mb_small": m_small / 2**20,
        "peak_mb_big": m_big / 2**20,
    }
    print(
        f"deadline sweep on {dialect}: {N} overdue open cases swept in {t_big:.2f} s (goal <= 5 s), "
        f"{c_big} reminders+escalations marked with events and notices; "
        f"{small} cases: {t_small:.2f} s. Python memory peak {m_small / 2**20:.2f} MB for {small} "
        f"vs {m_big / 2**20:.2f} MB for {N} (ratio {m_big / max(m_small, 1):.2f}: flat)"
    )
    assert c_big == 2 * N and c_small == 2 * small
    return result


if __name__ == "__main__":
    main()
