"""The connect bench runs end to end at a small size (skipped without MariaDB or PostgreSQL),
so it cannot rot: the shop filled with orders in every state, read by the floor and brought
in by the connector part by part, every paid order stored once, figures written."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest

from bench import connect
from bench.tests.test_scale import _postgres_answers

URL = os.environ.get(
    "BENCH_CONNECT_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_connect_bench_test",
)


def _mariadb_answers() -> str | None:
    """Why the tests' MariaDB server cannot be used here, or None."""
    try:
        from refund_portal_dujiaoka import testshop

        testshop.mariadb_database("dujiaoka_bench_probe")
    except Exception as exc:  # noqa: BLE001 (any failure to reach the server)
        return f"no MariaDB for the dujiaoka shop ({type(exc).__name__})"
    return None


def test_the_generated_shop_has_every_state_and_the_hostile_values():
    base = datetime(2025, 1, 1)
    rows = [
        dict(zip(connect.ORDER_COLUMNS, connect.order_row(i, base), strict=True))
        for i in range(1, 1001)
    ]
    assert {r["status"] for r in rows} == {-1, 1, 2, 3, 4, 5, 6}
    assert any("😀" in r["email"] for r in rows)
    assert any(r["created_at"].startswith("0000-00-00") for r in rows)
    assert any("\n" in r["info"] and r["type"] == 1 for r in rows)
    assert any(r["pay_id"] == 17 for r in rows)  # PayPal: no payout channel, a problem
    assert len({r["updated_at"] for r in rows}) < len(rows)  # timestamps shared
    paid = [r for r in rows if r["status"] > 1 and r["pay_id"] != 17]
    assert connect.taken_in(1000) == len(paid)


@pytest.mark.slow
def test_a_small_run_brings_every_paid_order_in_once(tmp_path, redis_url):
    reason = _postgres_answers() or _mariadb_answers()
    if reason:
        pytest.skip(reason)
    status = connect.main(
        [
            *("--orders", "1000", "--segments", "2", "--batch", "250", "--sample", "20"),
            *("--shop-database", "dujiaoka_bench_test", "--url", URL),
            *("--redis-url", redis_url, "--out", str(tmp_path)),
        ]
    )
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert status == (0 if figures["ratio"] >= connect.GOAL_RATIO else 1)
    assert figures["orders_stored"] == connect.taken_in(1020)
    parts = figures["parts"]
    assert [p["rows_done"] for p in parts] == [500, 1000]
    assert sum(p["created"] for p in parts) == connect.taken_in(1000)
    assert sum(p["problems"] for p in parts) == 1  # order 999, on PayPal
    assert all(p["floor_rows_per_s"] > 0 and p["connector_rows_per_s"] > 0 for p in parts)
    assert all(p["rss_mib"] > 0 for p in parts)
    assert figures["production_argon2"]["created"] == connect.taken_in(1020) - connect.taken_in(
        1000
    )
