"""The settlement job: one step of paying out a payout, rescheduled until it is final."""

from __future__ import annotations

from jobs.runtime import with_app
from portal.infra.queue import enqueue, release_once
from portal.services.money import settlement


@with_app
def settle_payout(payout_id: int) -> str:
    """Execute or query the payout's refund; reschedule itself while it is not final.

    Safe to run twice (or concurrently with a notification): the channel is always
    called with the payout's one idempotency key, and states only move forward.
    """
    release_once(f"settle-{payout_id}")
    step = settlement.settle(payout_id)
    if not step.done and step.retry_at is not None:
        enqueue(
            "jobs.settlement.settle_payout",
            payout_id,
            at=step.retry_at,
        )
        return "rescheduled"
    return "done" if step.done else "waiting"
