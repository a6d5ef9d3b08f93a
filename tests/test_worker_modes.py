"""The worker through real ``refund-portal worker`` processes: its two modes (every job in the
worker's own process, the default, or ``--fork``: a work-horse per job), and that it stops on
time, within ``STOP_S`` seconds of SIGTERM while idle, of finishing its queue with
``--burst``, or of its ``--max-jobs``-th job, in both modes.

A stop is timed from the signal, or from the moment RQ recorded the last job's end
(``ended_at``), to the process's exit.
"""

from __future__ import annotations

import signal
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis
from rq import Worker
from rq.job import Job, JobStatus

from portal.infra.queue import queue
from tests.live import kill_group, start_worker, wait_for, worker_env

#: what a supervisor (or a test) may wait for a worker to exit
STOP_S = 5.0
#: start-up (imports, the app, the first connections) on a loaded machine
START_S = 120
MODES = pytest.mark.parametrize("fork", [True, False], ids=["fork", "no-fork"])


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


def _fetch(ids: list[str], conn: Redis) -> list[Job]:
    fetched = Job.fetch_many(ids, connection=conn)
    assert None not in fetched
    return fetched


def _last_ended(jobs: list[Job]) -> datetime:
    ended = [j.ended_at for j in jobs]
    assert None not in ended, "every job ran"
    return max(ended)


@pytest.mark.parametrize("fork", [True, False, None], ids=["fork", "no-fork", "default"])
def test_a_burst_worker_runs_its_jobs_in_its_mode_and_stops_on_time(app, tmp_path, fork):
    """Forking: a fresh work-horse per job; not forking (the default): the worker's own
    process. Either way the worker exits within STOP_S of its last job (the sweep it seeds at
    start, queued after ours)."""
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(3)]
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(app, {}), burst=True, log=str(log), fork=fork)
    exited = _exit(worker, log)
    pids = [j.return_value() for j in _fetch([j.id for j in jobs], q.connection)]
    if fork:
        assert None not in pids and worker.pid not in pids
        assert len(set(pids)) == 3
    else:
        assert pids == [worker.pid] * 3
    finished = q.finished_job_registry.get_job_ids()
    took = (exited - _last_ended(_fetch(finished, q.connection))).total_seconds()
    print(f"stopped {took:.2f} s after its last job")
    # ours and the sweep, and what the sweep enqueued (a day's reconciliation, by the clock)
    assert {j.id for j in jobs} <= set(finished) and len(finished) >= 4, finished
    assert took < STOP_S, (took, _tail(log))


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


@MODES
def test_max_jobs_stops_a_worker_on_time_and_leaves_the_rest_queued(app, tmp_path, fork):
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(3)]
    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(app, {}), burst=False, log=str(log), fork=fork, max_jobs=2)
    exited = _exit(worker, log)
    fetched = _fetch([j.id for j in jobs], q.connection)
    took = (exited - _last_ended(fetched[:2])).total_seconds()
    print(f"stopped {took:.2f} s after its last job")
    assert took < STOP_S, (took, _tail(log))
    assert [j.get_status() for j in fetched] == [JobStatus.FINISHED] * 2 + [JobStatus.QUEUED]
    assert jobs[2].id in q.job_ids
