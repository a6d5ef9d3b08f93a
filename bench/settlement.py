"""Payouts settled per second through real RQ workers against the WeChat simulator,
next to the rate of no-op jobs through the same workers in the same run (goal >= 0.5)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

N = int(os.environ.get("BENCH_PAYOUTS", "300"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))


def _workers(env: dict[str, str]) -> float:
    """Run WORKERS burst workers until the queue is empty; seconds taken."""
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "portal.cli", "worker", "--burst"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]
    for p in procs:
        p.wait()
    return time.perf_counter() - started


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str) -> None:
    import requests

    for _ in range(100):
        try:
            requests.get(f"{url}/__sim__/ledger", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("simulator did not start")


def main() -> dict[str, float]:
    """Run both phases and print the figures."""
    import requests
    from sqlalchemy import func, select

    from bench.stack import bench_app
    from portal.domain.policy import Kind, Reason
    from portal.domain.states import Role
    from portal.extensions import db
    from portal.models import Payout
    from portal.plugins_setup import init_plugins
    from portal.queue import queue
    from portal.services import cases
    from portal.services.actors import Actor
    from tests import factories as f
    from tests.live import serve, worker_env

    with bench_app() as (app, tmp):
        # the gateway runs in its own process, as a real one would be elsewhere
        port = _free_port()
        sim_url = f"http://127.0.0.1:{port}"
        sim = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "refund_portal_wechat.simulator",
                "--keys-dir",
                str(tmp / "keys"),
                "--port",
                str(port),
            ],
            stderr=subprocess.DEVNULL,
        )
        _wait(sim_url)
        app.config.update(WECHAT_GATEWAY_URL=sim_url)
        init_plugins(app)
        with serve(app) as base:
            app.config["PUBLIC_BASE_URL"] = base
            env = worker_env(
                app,
                {"PORTAL_DEV_KEYS_DIR": str(tmp / "keys"), "PORTAL_WECHAT_GATEWAY_URL": sim_url},
            )
            # warm-up: imports, keys, first connections
            q = queue()
            q.enqueue("bench.noop.noop", 0)
            _workers(env)

            for i in range(N):
                q.enqueue("bench.noop.noop", i)
            noop_s = _workers(env)

            user = f.staff("bench")
            reviewer = Actor(Role.REVIEWER, user.id, "bench")
            from portal.services import context

            for _ in range(N):
                order = f.order(context.now(), channel="wechat", amount_fen=1000)
                requests.post(
                    f"{sim_url}/__sim__/trades",
                    json={
                        "transaction_id": order.payment.gateway_trade_id,
                        "out_trade_no": order.payment.merchant_trade_no,
                        "total_fen": 1000,
                    },
                    timeout=5,
                ).raise_for_status()
                case = cases.apply_for_refund(
                    order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 1000, "bench")
                )
                cases.approve(case, reviewer)
            settle_s = _workers(env)
            db.session.expire_all()
            done = db.session.scalar(
                select(func.count()).select_from(Payout).where(Payout.state == "succeeded")
            )
            movements = len(
                requests.get(f"{sim_url}/__sim__/ledger", timeout=5).json()["movements"]
            )
        sim.terminate()
        sim.wait(10)
    noop_rate, settle_rate = N / noop_s, done / settle_s
    result = {
        "noop_jobs_per_s": noop_rate,
        "payouts_per_s": settle_rate,
        "ratio": settle_rate / noop_rate,
        "succeeded": done,
        "movements": movements,
    }
    print(
        f"settlement: {N} payouts, {WORKERS} forking rq workers: "
        f"no-op {noop_rate:.1f} jobs/s, settlement {settle_rate:.1f} payouts/s, "
        f"ratio {result['ratio']:.2f} (goal >= 0.5); {done} succeeded, {movements} movements"
    )
    assert done == N and movements == N, "every payout settled exactly once"
    return result


if __name__ == "__main__":
    main()
