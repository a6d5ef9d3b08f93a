"""Reading orders from the shops' own databases (order sources): one job per source, enqueued
by the minute sweep; a job reads a bounded number of batches and the next sweep goes on.

Safe to run twice and on several workers: each batch and its position commit together,
and the position is compared and set (see ``portal.services.integration.order_sync``).
"""

from __future__ import annotations

import logging

from jobs.runtime import with_app
from portal.infra.queue import enqueue_once, release_once
from portal.plugins.order_sources import OrderSourceError
from portal.services.errors import ConcurrentChange
from portal.services.integration import order_sync

log = logging.getLogger(__name__)
#: batches one job reads before leaving the rest to the next minute
MAX_BATCHES = 20


@with_app
def sync_source(source_id: str, max_batches: int = MAX_BATCHES) -> dict[str, int]:
    """Take in what changed in the source since its stored position; counts by outcome."""
    release_once(f"order-source-{source_id}")
    try:
        result = order_sync.sync(order_sync.source(source_id), max_batches=max_batches)
    except ConcurrentChange:
        log.info("order source %s: another worker took the batch first", source_id)
        return {}
    return {
        "read": result.read,
        "created": result.created,
        "delivered": result.delivered,
        "problems": result.problems,
    }


@with_app
def sweep_order_sources() -> int:
    """Enqueue one sync job per configured order source (not while one waits); how many."""
    try:
        found = order_sync.sources()
    except OrderSourceError as exc:
        log.error("order sources not read: %s", exc)
        return 0
    for src in found:
        enqueue_once(f"order-source-{src.id}", 60, "jobs.order_sources.sync_source", src.id)
    return len(found)
