"""Payouts settled per second through real RQ workers against the WeChat simulator,
next to the rate of no-op jobs through the same workers in the same run (goal >= 0.5),
in each CPU layout of ``bench/layout.py`` (``shared``, ``gateway``, ``workers``).

``BENCH_PAYOUTS`` (300) payouts per round, ``BENCH_ROUNDS`` (5) rounds, ``BENCH_WORKERS`` (2);
``BENCH_PGBOUNCER=1`` puts PgBouncer between the workers and PostgreSQL; the workers run in
the worker's default mode (non-forking), ``BENCH_FORK=1`` runs both phases through forking
workers (``refund-portal worker --fork``, a work-horse per job);
``BENCH_PORTAL=threads`` serves the portal from the bench's own process instead of gunicorn;
``BENCH_LAYOUTS`` (``shared,gateway,workers``) the layouts to run, one after the other.
"""

from __future__ import annotations

import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

from bench.cpu import BusySampler, Cpu, snapshot
from bench.layout import LAYOUTS, Layout, applied, pin, plan

N = int(os.environ.get("BENCH_PAYOUTS", "300"))
WORKERS = int(os.environ.get("BENCH_WORKERS", "2"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
#: on PostgreSQL, workers connect through a PgBouncer the bench starts (the README's advice)
PGBOUNCER = os.environ.get("BENCH_PGBOUNCER", "") not in ("", "0")
#: non-forking workers (the worker's default) or, with ``BENCH_FORK=1``, ``--fork`` ones
FORK = os.environ.get("BENCH_FORK", "0") not in ("", "0")
KIND = "forking" if FORK else "non-forking"
#: what serves the portal the gateway notifies: gunicorn with two sync workers, as the README
#: deploys it, or (``threads``) werkzeug's threaded server inside the bench's own process
PORTAL = os.environ.get("BENCH_PORTAL", "gunicorn")
#: the CPU layouts to run (bench/layout.py)
LAYOUT_NAMES = [n for n in os.environ.get("BENCH_LAYOUTS", ",".join(LAYOUTS)).split(",") if n]


def _workers(env: dict[str, str], layout: Layout) -> float:
    """Run WORKERS burst workers, on the layout's CPUs, until the queue is empty; seconds taken."""
    from tests.live import start_worker

    started = time.perf_counter()
    procs = [start_worker(env, fork=FORK) for _ in range(WORKERS)]
    for proc in procs:  # before its first work-horse: they inherit it
        pin(proc.pid, layout.workers)
    for p in procs:
        p.wait()
    return time.perf_counter() - started


def _wait(url: str) -> None:
    import requests

    for _ in range(100):
        try:
            requests.get(f"{url}/__sim__/ledger", timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("simulator did not start")


@contextmanager
def _simulator(tmp: Path, layout: Layout) -> Iterator[tuple[str, int]]:
    """The WeChat Pay simulator in its own process, on the layout's gateway CPUs: its URL and
    process id. Stopped however the bench ends."""
    from bench.stack import free_port

    port = free_port()
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refund_portal_wechat.simulator",
            "--keys-dir",
            str(tmp / "keys"),
            "--port",
            str(port),
            "--quiet",
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        pin(sim.pid, layout.gateway)
        url = f"http://127.0.0.1:{port}"
        _wait(url)
        yield url, sim.pid
    finally:
        sim.terminate()
        sim.wait(10)


def _swing(finished: list[datetime]) -> tuple[datetime, datetime, int] | None:
    """The 10th and 90th percentile finishing times and the jobs finished between them."""
    times = sorted(finished)
    if len(times) < 2:
        return None
    first, last = len(times) // 10, len(times) - 1 - len(times) // 10
    return times[first], times[last], last - first


def steady_rate(finished: list[datetime]) -> float:
    """Jobs a second while the workers were in full swing: between the 10th and the 90th
    percentile of the finishing times (worker start-up and the last stragglers left out);
    0.0 when fewer than two jobs finished."""
    swing = _swing(finished)
    if swing is None:
        return 0.0
    start, end, jobs = swing
    span = (end - start).total_seconds()
    return jobs / span if span > 0 else float("inf")


def swing_cpu(finished: list[datetime], sampler: BusySampler) -> tuple[float, float]:
    """(CPUs busy on average, machine-wide CPU milliseconds per job) in the full swing that
    ``steady_rate`` measures; (0.0, 0.0) when it cannot be told."""
    swing = _swing(finished)
    if swing is None:
        return 0.0, 0.0
    start, end, jobs = swing
    busy, wall = sampler.between(start, end)
    span = (end - start).total_seconds()
    if wall <= 0 or span <= 0 or jobs <= 0:
        return 0.0, 0.0
    # the samples cover ``wall`` seconds of the swing's ``span``: as many of its jobs
    return busy / wall, busy * 1000 / (jobs * wall / span)


def _ratio(noop: float, settlement: float) -> float:
    return settlement / noop if noop else 0.0


def run(layout: Layout) -> dict[str, float]:
    """Run ROUNDS rounds of both phases in ``layout``, side by side, and print the figures.

    Each round runs the no-op phase, then the settlement phase, through freshly started
    workers: the time to drain a burst of N jobs, start-up included in both. The machine's
    noise moves both phases of a round together, so the reported ratio is the median of the
    rounds' ratios. The steady-state ratio is printed too: each phase's rate between its
    10th and 90th percentile finishing times (RQ's ``ended_at`` of each no-op job, the
    ``settled_at`` of each payout), so worker start-up and the tail weigh in neither. For
    that same stretch it prints how many CPUs were busy and the machine's CPU per job: when
    both phases keep the CPUs busy, the steady-state ratio is the ratio of CPU per job.
    """
    import psutil
    import requests
    from rq.job import Job
    from sqlalchemy import func, select

    from bench.stack import bench_app, free_port, gunicorn_portal
    from portal.domain.payout_states import PayoutState
    from portal.domain.policy import Kind, Reason
    from portal.domain.states import Role
    from portal.extensions import db
    from portal.infra.queue import queue
    from portal.models import Payout
    from portal.plugins.startup import init_plugins
    from portal.services import context
    from portal.services.actors import Actor
    from portal.services.refunds import cases
    from tests import factories as f
    from tests.live import serve, worker_env

    def succeeded() -> int:
        db.session.expire_all()
        return db.session.scalar(
            select(func.count()).select_from(Payout).where(Payout.state == PayoutState.SUCCEEDED)
        )

    # one line per gateway notification would bury the figures (and the production server,
    # gunicorn, keeps no access log unless asked)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    rounds: list[tuple[float, float]] = []
    steady: list[tuple[float, float]] = []
    cpu: list[tuple[Cpu, Cpu]] = []
    swing: list[tuple[tuple[float, float], tuple[float, float]]] = []
    with ExitStack() as stack:
        stack.enter_context(applied(layout))  # what the bench starts from here inherits it
        sampler = stack.enter_context(BusySampler())
        app, tmp = stack.enter_context(bench_app())
        # the gateway runs in its own process, as a real one would be elsewhere
        sim_url, sim_pid = stack.enter_context(_simulator(tmp, layout))
        app.config.update(WECHAT_GATEWAY_URL=sim_url)
        init_plugins(app)
        with ExitStack() as serving:
            if PORTAL == "threads":
                base, portal_pids = serving.enter_context(serve(app)), []
            else:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
            app.config["PUBLIC_BASE_URL"] = base
            env = worker_env(
                app,
                {"PORTAL_DEV_KEYS_DIR": str(tmp / "keys"), "PORTAL_WECHAT_GATEWAY_URL": sim_url},
            )
            if PGBOUNCER and env["PORTAL_DATABASE_URL"].startswith("postgresql"):
                from bench.pgbouncer import pooled

                env["PORTAL_DATABASE_URL"] = serving.enter_context(
                    pooled(env["PORTAL_DATABASE_URL"])
                )
            if PORTAL != "threads":
                portal_pids = serving.enter_context(gunicorn_portal(env, port))
            # warm-up: imports, keys, first connections
            q = queue()
            q.enqueue("bench.noop.noop", 0)
            _workers(env, layout)
            user = f.staff("bench")
            reviewer = Actor(Role.REVIEWER, user.id, "bench")

            for _ in range(ROUNDS):
                jobs = [q.enqueue("bench.noop.noop", i) for i in range(N)]
                before_cpu = snapshot(sim_pid, portal_pids)
                noop_s = _workers(env, layout)
                noop_cpu = (snapshot(sim_pid, portal_pids) - before_cpu).per(N)
                fetched = Job.fetch_many([j.id for j in jobs], connection=q.connection)
                noop_ended = [j.ended_at for j in fetched if j is not None and j.ended_at]

                first_id = (db.session.scalar(select(func.max(Payout.id))) or 0) + 1
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
                before = succeeded()
                before_cpu = snapshot(sim_pid, portal_pids)
                settle_s = _workers(env, layout)
                settle_cpu = (snapshot(sim_pid, portal_pids) - before_cpu).per(N)
                settled = succeeded() - before
                db.session.expire_all()
                settled_at = list(
                    db.session.scalars(
                        select(Payout.settled_at).where(
                            Payout.id >= first_id, Payout.settled_at.is_not(None)
                        )
                    )
                )
                rounds.append((N / noop_s, settled / settle_s))
                steady.append((steady_rate(noop_ended), steady_rate(settled_at)))
                swing.append((swing_cpu(noop_ended, sampler), swing_cpu(settled_at, sampler)))
                cpu.append((noop_cpu, settle_cpu))
            done = succeeded()
            movements = len(
                requests.get(f"{sim_url}/__sim__/ledger", timeout=5).json()["movements"]
            )
    for i, (
        (noop_rate, settle_rate),
        (noop_steady, settle_steady),
        (noop_sw, settle_sw),
    ) in enumerate(zip(rounds, steady, swing, strict=True), 1):
        print(
            f"  [{layout.name}] round {i}: no-op {noop_rate:.1f} jobs/s, settlement {settle_rate:.1f} payouts/s, "
            f"ratio {_ratio(noop_rate, settle_rate):.2f}; in full swing {noop_steady:.1f} and "
            f"{settle_steady:.1f}, ratio {_ratio(noop_steady, settle_steady):.2f} (CPUs busy "
            f"{noop_sw[0]:.2f} and {settle_sw[0]:.2f}; CPU per job {noop_sw[1]:.1f} and "
            f"{settle_sw[1]:.1f} ms)"
        )
    steady_ratio = statistics.median(_ratio(a, b) for a, b in steady)
    result = {
        "steady_ratio": steady_ratio,
        "noop_jobs_per_s": statistics.median(r[0] for r in rounds),
        "payouts_per_s": statistics.median(r[1] for r in rounds),
        "ratio": statistics.median(_ratio(*r) for r in rounds),
        "succeeded": done,
        "movements": movements,
    }
    print(
        f"settlement [{layout.name}]: {ROUNDS} rounds of {N} payouts, {WORKERS} "
        f"{KIND} rq workers"
        f"{' through PgBouncer' if PGBOUNCER else ''}: "
        f"median no-op {result['noop_jobs_per_s']:.1f} jobs/s, "
        f"settlement {result['payouts_per_s']:.1f} payouts/s, "
        f"ratio {result['ratio']:.2f} (goal >= 0.5); {done} succeeded, {movements} movements"
    )
    print(
        f"  in full swing (10th to 90th percentile of finishing times, no start-up): "
        f"median ratio {steady_ratio:.2f}"
    )
    swing_noop_ms = statistics.median(sw[0][1] for sw in swing)
    swing_payout_ms = statistics.median(sw[1][1] for sw in swing)
    result["swing_cpu_ms_per_noop"] = swing_noop_ms
    result["swing_cpu_ms_per_payout"] = swing_payout_ms
    print(
        f"  CPU per job in full swing, machine-wide (median of the rounds): no-op "
        f"{swing_noop_ms:.1f} ms, payout {swing_payout_ms:.1f} ms, ratio "
        f"{_ratio(swing_payout_ms, swing_noop_ms):.2f} (CPUs busy: no-op "
        f"{statistics.median(sw[0][0] for sw in swing):.2f}, settlement "
        f"{statistics.median(sw[1][0] for sw in swing):.2f}, of {psutil.cpu_count()})"
    )
    noop_cpu, settle_cpu = (Cpu.median([c[i] for c in cpu]) for i in (0, 1))
    result["cpu_ms_per_noop"] = noop_cpu.machine
    result["cpu_ms_per_payout"] = settle_cpu.machine
    print(
        f"  CPU per job, machine-wide (median of the rounds, start-up included): no-op "
        f"{noop_cpu.machine:.1f} ms, of which the workers {noop_cpu.workers:.1f}; payout "
        f"{settle_cpu.machine:.1f} ms, of which the workers {settle_cpu.workers:.1f}, the "
        f"portal answering the gateway's notifications {settle_cpu.portal:.1f}, the gateway "
        f"simulator {settle_cpu.simulator:.1f}"
    )
    assert done == N * ROUNDS and movements == N * ROUNDS, "every payout settled exactly once"
    return result


def main() -> dict[str, dict[str, float]]:
    """Run the bench in each layout of ``BENCH_LAYOUTS``, then print them side by side."""
    cpus = os.sched_getaffinity(0)
    results: dict[str, dict[str, float]] = {}
    for name in LAYOUT_NAMES:
        try:
            layout = plan(name, cpus)
        except ValueError as exc:
            print(f"settlement [{name}]: skipped: {exc}")
            continue
        results[name] = run(layout)
    print(f"settlement, each layout (bench/layout.py), {WORKERS} {KIND} workers:")
    for name, r in results.items():
        print(
            f"  {name:8} no-op {r['noop_jobs_per_s']:6.1f} jobs/s, payouts "
            f"{r['payouts_per_s']:5.1f}/s: ratio {r['ratio']:.2f}, in full swing "
            f"{r['steady_ratio']:.2f} (goal >= 0.5)"
        )
    return results


if __name__ == "__main__":
    main()
