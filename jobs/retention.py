"""The retention job: erase the personal data of orders whose cases ended longer ago than
``RETENTION_DAYS`` (legal holds stop it). Safe to run twice, or two at once: each order is
erased in its own compare-and-set transaction. The periodic sweep enqueues it once per
Beijing day; a run that was lost is made good by the next day's, which finds everything due.
"""

from __future__ import annotations

from jobs.runtime import with_app
from portal.infra import singleton
from portal.infra.queue import enqueue_once, redis_connection, release_once
from portal.services import context
from portal.services.audit import seals
from portal.services.privacy import erasure

#: the day's claim outlives the day, so a day's run is enqueued once
CLAIM_SECONDS = 2 * 24 * 3600


@with_app
def erase_due(day: str) -> int:
    """Erase every order due for erasure and not held; returns how many."""
    release_once(f"retention-{day}")
    return erasure.erase_due(context.now())


def enqueue_daily() -> int:
    """Enqueue the day's retention run unless it was enqueued today already; 1 if enqueued."""
    day = seals.day_of(context.now())
    claimed = redis_connection().set(
        f"portal:retention:{day}", singleton.holder(), nx=True, ex=CLAIM_SECONDS
    )
    if not claimed:
        return 0
    enqueue_once(f"retention-{day}", 3600, "jobs.retention.erase_due", day)
    return 1
