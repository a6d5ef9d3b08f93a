"""Deliver one webhook to the merchant's shop; RQ retries it with backoff when it fails."""

from __future__ import annotations

from jobs.runtime import with_app
from portal.services.integration import webhooks


@with_app
def deliver(delivery_id: int) -> str:
    """POST the delivery's event, signed; a delivered one is not sent again (safe to run twice)."""
    return webhooks.deliver(delivery_id)


@with_app
def sweep() -> int:
    """Re-enqueue deliveries whose job was lost (worker killed, Redis flushed); how many."""
    ids = webhooks.due_ids()
    webhooks.enqueue(ids)
    return len(ids)
