"""Start an RQ worker with the scheduler for the portal's queue: non-forking, or forking.

By default a worker runs every job in its own process (RQ's ``SimpleWorker``) and keeps its
database connection between jobs. ``refund-portal worker --fork`` gives RQ's own default
instead: a work-horse forked per job, so that a job that crashes the interpreter or leaks
takes only its work-horse down, at the price of a fork per job and of whatever the job opens
(a database connection, a connection to the gateway) being opened again by the next. Every job
is safe to run twice either way; a worker killed mid-job is recovered by the sweep in both
modes. Why the default is what it is: ``docs/performance.md``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from rq import SimpleWorker, Worker
from rq.worker.base import BaseWorker

from jobs.runtime import set_app
from portal.infra import metrics, request_ids
from portal.infra.queue import enqueue_once, redis_connection

#: how often a worker's pub/sub thread wakes to see whether the worker is stopping
PUBSUB_POLL_S = 0.5


class StopsOnTime(BaseWorker):
    """A worker whose pub/sub thread ends within ``PUBSUB_POLL_S`` of being told to stop.

    RQ 3.0 listens for commands (``rq`` shutdown, stop-job) in a redis-py
    ``PubSubWorkerThread`` that waits up to 60 s per read, and at teardown unsubscribes, then
    stops the thread: redis-py 8's ``stop()`` joins it. Unless the unsubscribe reply arrives
    after the stop flag is cleared, the thread goes back to waiting (up to 60 s, for a
    subscription that never comes) and the worker exits a minute late. Here the thread waits
    ``PUBSUB_POLL_S`` per read instead, so whatever order the two happen in, and whether
    ``stop()`` joins (redis-py 8) or not (earlier, where RQ joins for 1 s), it ends in time.
    A wake-up is one ``select`` on an idle socket.
    """

    def subscribe(self) -> None:
        """Subscribe to this worker's command channel, as RQ 3.0 does but for the wait."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ types the attribute as None
            sleep_time=PUBSUB_POLL_S,
            daemon=True,
            exception_handler=self._pubsub_exception_handler,
        )


class Observed(BaseWorker):
    """A worker that runs each job under the request id it carries (with its job id: every log
    line of the job has both) and counts its outcome (``portal_jobs``; no-op with metrics off).
    ``perform_job`` runs where the job runs: in the work-horse when forking."""

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        """RQ's ``perform_job`` with the job's request id and job id bound."""
        meta = job.meta if isinstance(job.meta, dict) else {}
        with request_ids.bound(request_ids.accepted(meta.get("request_id")), job.id):
            return bool(super().perform_job(job, queue, *args, **kwargs))

    def handle_job_success(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> None:
        """RQ's bookkeeping, then the job counted as succeeded."""
        super().handle_job_success(job, queue, *args, **kwargs)
        metrics.job_finished(job.origin, job.func_name, "succeeded")

    def handle_job_failure(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> None:
        """RQ's bookkeeping, then the job counted as stopped, retried or failed."""
        stopped = self._stopped_job_id == job.id
        retried = not stopped and job.should_retry
        super().handle_job_failure(job, queue, *args, **kwargs)
        outcome = "stopped" if stopped else "retried" if retried else "failed"
        metrics.job_finished(job.origin, job.func_name, outcome)


class NonForkingWorker(Observed, StopsOnTime, SimpleWorker):
    """RQ's ``SimpleWorker`` (every job in the worker's own process), stopping on time."""


class ForkingWorker(Observed, StopsOnTime, Worker):
    """RQ's forking worker (a work-horse per job), stopping on time."""


def run_worker(
    app: Flask, burst: bool = False, fork: bool = False, max_jobs: int | None = None
) -> None:
    """Run a worker with the scheduler bound to ``app``'s Redis and queue.

    ``fork``: a work-horse per job, or (the default) every job in this process;
    ``max_jobs``: exit after that many jobs (a supervisor starts a fresh one).
    """
    set_app(app)
    with app.app_context():
        conn = redis_connection()
        # the sweep reschedules itself from here on; workers starting together seed it once
        enqueue_once("sweep-seed", 60, "jobs.sweeps.sweep")
        worker_class = ForkingWorker if fork else NonForkingWorker
        worker = worker_class([app.config["QUEUE_NAME"]], connection=conn)
    worker.work(with_scheduler=True, burst=burst, max_jobs=max_jobs)
