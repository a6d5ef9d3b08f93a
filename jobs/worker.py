"""Start an RQ worker with the scheduler for the portal's queue."""

from __future__ import annotations

import gc
import importlib

from flask import Flask
from rq import Queue, Worker
from rq.job import Job

from jobs.runtime import set_app

#: imported once in the worker so each forked work-horse starts with them loaded
PRELOAD = ("jobs.settlement", "jobs.sweeps", "portal.services.settlement", "portal.services.cases")


class PortalWorker(Worker):
    """RQ's forking worker, whose work-horses do not collect garbage.

    A work-horse lives for one job and its memory goes back to the system when it exits:
    a collection there would only walk objects to free them a moment early.
    """

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        gc.disable()
        super().main_work_horse(job, queue)


def run_worker(app: Flask, burst: bool = False) -> None:
    """Run a worker (forking, with scheduler) bound to ``app``'s Redis and queue."""
    from portal.queue import redis_connection

    set_app(app)
    for module in PRELOAD:
        importlib.import_module(module)
    from jobs.warmup import warm_up

    warm_up(app)
    with app.app_context():
        conn = redis_connection()
        from portal.queue import enqueue_once

        # the sweep reschedules itself from here on; workers starting together seed it once
        enqueue_once("sweep-seed", 60, "jobs.sweeps.sweep")
        worker = PortalWorker([app.config["QUEUE_NAME"]], connection=conn)
    gc.freeze()  # what the parent built stays out of the work-horses' garbage collections
    worker.work(with_scheduler=True, burst=burst)
