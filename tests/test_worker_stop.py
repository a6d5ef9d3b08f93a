"""A ``refund-portal worker`` stops on time: within ``STOP_S`` seconds of SIGTERM while idle,
of finishing its queue with ``--burst``, or of its ``--max-jobs``-th job, forking or not.

Each test starts and stops a real worker process; the stop is timed from the moment RQ
recorded the last job's end (``ended_at``), or from the signal, to the process's exit.
"""

from __future__ import annotations

import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job

from portal.infra.queue import queue
from tests.live import kill_group, start_worker, wait_for, worker_env

#: what a supervisor (or a test) may wait for a worker to exit
STOP_S = 5.0
#: start-up (imports, the app, the first connections) on a loaded machine
START_S = 120
MODES = pytest.mark.parametrize("fork", [True, False], ids=["forking", "non-forking"])


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""


def _exit(worker: subprocess.Popen, log: Path) -> datetime:
    """Wait for the worker to exit (well past ``STOP_S``, so a slow stop is measured, not
    cut short); when it did, and that it exited cleanly."""
    try:
        code = worker.wait(90)
    finally:
        kill_group(worker)
    exited = datetime.now(UTC)
    assert code == 0, _tail(log)
    return exited


def _registered(conn: Redis, pid: int) -> Worker | None:
    return next((w for w in Worker.all(connection=conn) if w.pid == pid), None)


def _idle_after_a_job(conn: Redis, pid: int) -> bool:
    """The worker has run a job (the sweep it seeds at start) and waits for the next one."""
    w = _registered(conn, pid)
    return bool(
        w is not None
        and w.successful_job_count + w.failed_job_count >= 1
        and w.get_state() == "idle"
    )


@MODES
def test_sigterm_stops_an_idle_worker_on_time(app, tmp_path, fork):
    conn = queue().connection
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(app, {}), burst=False, log=str(log), fork=fork)
    try:
        wait_for(lambda: _idle_after_a_job(conn, worker.pid), START_S, "an idle worker")
    except AssertionError:
        kill_group(worker)
        raise AssertionError(_tail(log)) from None
    signalled = datetime.now(UTC)
    worker.send_signal(signal.SIGTERM)
    took = (_exit(worker, log) - signalled).total_seconds()
    print(f"stopped {took:.2f} s after SIGTERM")
    assert took < STOP_S, (took, _tail(log))
    assert _registered(conn, worker.pid) is None  # it said goodbye


def _last_ended(jobs: list[Job], conn: Redis) -> datetime:
    fetched = Job.fetch_many([j.id for j in jobs], connection=conn)
    ended = [j.ended_at for j in fetched if j is not None and j.ended_at is not None]
    assert len(ended) == len(jobs), "every job ran"
    return max(ended)


@MODES
def test_a_burst_worker_stops_on_time_after_its_last_job(app, tmp_path, fork):
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(3)]
    log = tmp_path / "worker.log"
    started = time.monotonic()
    worker = start_worker(worker_env(app, {}), burst=True, log=str(log), fork=fork)
    exited = _exit(worker, log)
    # the sweep the worker seeded at start is its last job
    sweep = [j for j in q.finished_job_registry.get_job_ids() if j not in {x.id for x in jobs}]
    last = _last_ended(jobs + [Job.fetch(i, connection=q.connection) for i in sweep], q.connection)
    took = (exited - last).total_seconds()
    print(f"stopped {took:.2f} s after its last job")
    assert took < STOP_S, (took, time.monotonic() - started, _tail(log))


@MODES
def test_a_worker_stops_on_time_after_its_max_jobs(app, tmp_path, fork):
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(3)]
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(app, {}), burst=False, log=str(log), fork=fork, max_jobs=2)
    exited = _exit(worker, log)
    took = (exited - _last_ended(jobs[:2], q.connection)).total_seconds()
    print(f"stopped {took:.2f} s after its last job")
    assert took < STOP_S, (took, _tail(log))
    assert jobs[2].id in q.job_ids  # the rest waits for the next worker
