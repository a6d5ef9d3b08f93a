"""Start an RQ worker with the scheduler for the portal's queue."""

from __future__ import annotations

from flask import Flask
from rq import Worker

from jobs.runtime import set_app


def run_worker(app: Flask, burst: bool = False) -> None:
    """Run a worker (forking, with scheduler) bound to ``app``'s Redis and queue."""
    from portal.queue import redis_connection

    set_app(app)
    with app.app_context():
        conn = redis_connection()
        worker = Worker([app.config["QUEUE_NAME"]], connection=conn)
    worker.work(with_scheduler=True, burst=burst)
