"""Periodic sweeps: the database is the truth, the scheduler only a reminder.

``sweep_payouts`` re-enqueues payouts that a lost job (worker killed, Redis
flushed, restart) left behind; it reschedules itself.
"""

from __future__ import annotations

from datetime import timedelta

from jobs.runtime import with_app

SWEEP_EVERY = timedelta(seconds=60)
#: a payout created this recently is left to the job its approval enqueued
GRACE = timedelta(seconds=30)


@with_app
def sweep_payouts(reschedule: bool = True) -> int:
    """Enqueue settlement of every unfinished payout that is due; returns how many."""
    from portal.queue import enqueue
    from portal.services import context
    from portal.services.sweeps import due_payout_ids

    now = context.now()
    ids = due_payout_ids(now, GRACE)
    for payout_id in ids:
        enqueue("jobs.settlement.settle_payout", payout_id)
    if reschedule:
        at = now + SWEEP_EVERY
        # one id per minute: two sweeps that run together schedule one successor
        enqueue(
            "jobs.sweeps.sweep_payouts", job_id=f"sweep-payouts-{int(at.timestamp()) // 60}", at=at
        )
    return len(ids)
