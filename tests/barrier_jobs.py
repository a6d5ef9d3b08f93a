"""A job for tests with real workers: a barrier that holds its worker until ``parties`` jobs
of the same barrier have started (each on a worker of its own, as one worker runs one job at
a time), so a test knows that many workers are taking jobs from the queue at once."""

from __future__ import annotations

import time

from rq import get_current_job


def meet(key: str, parties: int, timeout_s: float = 30.0) -> str:
    """Count this job in at ``key`` and wait until ``parties`` have; the worker's name. Raises
    if the others do not come within ``timeout_s`` (a worker that is not taking jobs)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("meet runs as a job")
    conn = job.connection
    conn.incr(key)
    conn.expire(key, 300)
    deadline = time.monotonic() + timeout_s
    while int(conn.get(key) or 0) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{key}: {conn.get(key)} of {parties} jobs started")
        time.sleep(0.01)
    return str(job.worker_name)
