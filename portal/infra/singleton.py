"""Work that must happen once per period however many workers run: a claim per period and a
lock while it runs, both in Redis.

``once(name, period)`` yields True to exactly one caller per ``period`` of ``name``: it takes
the lock (``redis-py``'s ``Lock``: a token only its holder can release, expiring after
``hold_seconds`` if the holder dies), then claims the period. A caller that finds the lock
held (the previous period's run is still going) or the period claimed (another worker already
ran it) gets False and does nothing. A holder killed mid-run loses that period; the next
period's caller runs.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import LockError

from portal.infra.queue import redis_connection

#: how long a period's claim is kept (its copies arrive within a few periods at most)
CLAIM_SECONDS = 3600


def holder() -> str:
    """Who holds a claim: host and process, for an operator reading Redis."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def once(name: str, period: str, hold_seconds: float) -> Iterator[bool]:
    """True to the one caller that may run ``name`` for ``period`` (see the module's text)."""
    conn = redis_connection()
    lock = conn.lock(f"portal:singleton:{name}:lock", timeout=hold_seconds, blocking=False)
    if not lock.acquire():
        yield False
        return
    try:
        claimed = conn.set(f"portal:singleton:{name}:{period}", holder(), nx=True, ex=CLAIM_SECONDS)
        yield bool(claimed)
    finally:
        try:
            lock.release()
        except LockError:  # it expired while running (longer than hold_seconds)
            pass
