"""Orders ingested per second through the shop API over HTTP (signed, idempotent writes),
next to the rate of an authenticated no-op call (GET /api/v1/me) through the same server
and clients in the same run: the ceiling the web stack allows.

BENCH_ORDERS (default 100000) orders, BENCH_CLIENTS (default 8) client threads;
BENCH_PASSWORD=hash (default: the shop sends the Argon2 hash) or plain (the portal hashes).
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor

N = int(os.environ.get("BENCH_ORDERS", "100000"))
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))
CEILING_CALLS = min(N, int(os.environ.get("BENCH_CEILING_CALLS", "20000")))
PASSWORD = os.environ.get("BENCH_PASSWORD", "hash")


def _order(i: int, password: dict) -> dict:
    return {
        "order_no": f"B{i:08d}",
        "buyer_contact": f"1380000{i % 10000:04d}",
        **password,
        "product": {"sku": f"SKU{i % 50}", "title": "Game card", "price_fen": 1000},
        "amount_fen": 1000,
        "payment": {
            "channel": "alipay",
            "gateway_trade_id": f"T{i:010d}",
            "merchant_trade_no": f"M{i:010d}",
            "captured_fen": 1000,
        },
        "paid_at": "2026-03-09T10:00:00+08:00",
    }


def _run(count: int, call) -> float:
    """Seconds for ``count`` calls spread over CLIENTS threads (each with its own session)."""
    import requests

    per = [range(c, count, CLIENTS) for c in range(CLIENTS)]

    def worker(indices: range) -> int:
        session = requests.Session()
        for i in indices:
            call(session, i)
        return len(indices)

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        done = sum(pool.map(worker, per))
    assert done == count
    return time.perf_counter() - started


def main() -> dict[str, float]:
    """Measure the ceiling, then ingest N orders; print both rates."""
    from sqlalchemy import func, select

    from bench.stack import bench_app
    from portal.extensions import db
    from portal.models import Order
    from portal.services.accounts.passwords import hash_password
    from portal.services.integration import api_keys, signing
    from tests import factories as f
    from tests.live import serve

    with bench_app() as (app, _tmp):
        m = f.merchant("benchshop")
        db.session.commit()
        _, key = api_keys.create(m.id)
        secret = api_keys.hash_key(key)
        auth = {"Authorization": f"Bearer {key}"}
        if PASSWORD == "plain":
            password = {"query_password": "pass1234"}
        else:
            password = {"query_password_hash": hash_password("pass1234")}
        with serve(app) as base:

            def me(session, i: int) -> None:
                r = session.get(f"{base}/api/v1/me", headers=auth, timeout=30)
                assert r.status_code == 200, r.text

            def ingest(session, i: int) -> None:
                body = json.dumps(_order(i, password)).encode()
                headers = {
                    **auth,
                    **signing.request_headers(
                        secret, "POST", "/api/v1/orders", f"order-B{i:08d}", body, int(time.time())
                    ),
                    "Content-Type": "application/json",
                    "Idempotency-Key": f"order-B{i:08d}",
                }
                r = session.post(f"{base}/api/v1/orders", data=body, headers=headers, timeout=30)
                assert r.status_code == 201, r.text

            _run(min(200, CEILING_CALLS), me)  # warm-up: imports, connections, first queries
            ceiling_s = _run(CEILING_CALLS, me)
            ingest_s = _run(N, ingest)
        stored = db.session.scalar(select(func.count()).select_from(Order))
        dialect = db.engine.dialect.name
    ceiling, rate = CEILING_CALLS / ceiling_s, N / ingest_s
    print(
        f"ingest: {N} orders over HTTP ({dialect}, {CLIENTS} clients, password {PASSWORD}): "
        f"{rate:.0f} orders/s; ceiling (authenticated no-op GET /api/v1/me, same server) "
        f"{ceiling:.0f} calls/s; ratio {rate / ceiling:.2f}; {stored} orders stored"
    )
    assert stored == N, "every order stored exactly once"
    return {"orders_per_s": rate, "ceiling_per_s": ceiling, "stored": stored}


if __name__ == "__main__":
    main()
