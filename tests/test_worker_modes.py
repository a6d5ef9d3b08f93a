"""The worker's two modes, through real ``refund-portal worker`` processes: a work-horse per
job (RQ's default), or every job in the worker's own process (``--no-fork``)."""

from __future__ import annotations

from rq.job import Job, JobStatus

from portal.infra.queue import queue
from tests.live import start_worker, worker_env


def _pids(app, tmp_path, count: int, **worker_options) -> tuple[int, list[int | None]]:
    """Run ``count`` jobs that report their process id through one burst worker."""
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(count)]
    worker = start_worker(worker_env(app, {}), log=str(tmp_path / "worker.log"), **worker_options)
    assert worker.wait(120) == 0, (tmp_path / "worker.log").read_text(errors="replace")[-2000:]
    return worker.pid, [Job.fetch(j.id, connection=q.connection).return_value() for j in jobs]


def test_a_forking_worker_runs_each_job_in_its_own_work_horse(app, tmp_path):
    worker_pid, pids = _pids(app, tmp_path, 3)
    assert None not in pids and worker_pid not in pids
    assert len(set(pids)) == 3  # a fresh work-horse for every job


def test_a_non_forking_worker_runs_every_job_in_its_own_process(app, tmp_path):
    worker_pid, pids = _pids(app, tmp_path, 3, fork=False)
    assert pids == [worker_pid] * 3


def test_max_jobs_stops_a_worker_after_that_many_and_leaves_the_rest_queued(app, tmp_path):
    q = queue()
    jobs = [q.enqueue("tests.live.worker_pid") for _ in range(3)]
    worker = start_worker(
        worker_env(app, {}), log=str(tmp_path / "worker.log"), fork=False, max_jobs=2
    )
    assert worker.wait(120) == 0
    statuses = [Job.fetch(j.id, connection=q.connection).get_status() for j in jobs]
    assert statuses == [JobStatus.FINISHED, JobStatus.FINISHED, JobStatus.QUEUED]
    assert jobs[2].id in q.job_ids
