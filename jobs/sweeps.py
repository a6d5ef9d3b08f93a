"""Periodic sweeps: the database is the truth, the scheduler only a reminder.

``sweep_payouts`` re-enqueues payouts that a lost job (worker killed, Redis
flushed, restart) left behind; it reschedules itself.
"""

from __future__ import annotations

from datetime import timedelta

from jobs.channel_keys import sweep_channel_keys
from jobs.order_sources import sweep_order_sources
from jobs.runtime import with_app
from jobs.webhooks import sweep as sweep_webhooks
from portal.infra.queue import enqueue, enqueue_once, queue, release_once
from portal.services import context
from portal.services.deadlines import deadline_bulk, deadline_rules
from portal.services.deadlines.sweeps import due_payout_ids

SWEEP_EVERY = timedelta(seconds=60)
#: a payout created this recently is left to the job its approval enqueued
GRACE = timedelta(seconds=30)


@with_app
def sweep_payouts(reschedule: bool = True) -> int:
    """Enqueue settlement of every unfinished payout that is due; returns how many."""
    now = context.now()
    ids = due_payout_ids(now, GRACE)
    for payout_id in ids:
        enqueue_once(
            f"settle-{payout_id}",
            int(SWEEP_EVERY.total_seconds()),
            "jobs.settlement.settle_payout",
            payout_id,
        )
    if reschedule:
        at = now + SWEEP_EVERY
        # one id per minute: two sweeps that run together schedule one successor
        enqueue(
            "jobs.sweeps.sweep_payouts", job_id=f"sweep-payouts-{int(at.timestamp()) // 60}", at=at
        )
    return len(ids)


@with_app
def sweep_deadlines() -> int:
    """Apply every deadline that passed; returns how many rows were acted on or enqueued.

    Rules that set a marker (reminders, escalations, late payouts) are fired set-based, a page
    of rows per transaction; rules that change a case's state are enqueued one job per case.
    Both run the same rule definitions as the jobs scheduled at each case's deadlines.
    """
    now = context.now()
    count = sum(deadline_bulk.run(now).values())
    q = queue()
    for rule in deadline_rules.STATE_RULES:
        for ids in deadline_bulk.due_batches(rule, now):
            q.enqueue_many([q.prepare_data("jobs.deadlines.fire", args=(rule, i)) for i in ids])
            count += len(ids)
    return count


@with_app
def sweep(reschedule: bool = True) -> dict[str, int]:
    """The periodic sweep: payouts left behind, deadlines passed, webhook deliveries whose
    job was lost, channel keys due for a refresh, and the shops' order sources to read;
    reschedules itself."""
    release_once("sweep-seed")
    result = {
        "payouts": sweep_payouts(reschedule=False),
        "deadlines": sweep_deadlines(),
        "webhooks": sweep_webhooks(),
        "channel_keys": sweep_channel_keys(),
        "order_sources": sweep_order_sources(),
    }
    if reschedule:
        at = context.now() + SWEEP_EVERY
        enqueue("jobs.sweeps.sweep", job_id=f"sweep-{int(at.timestamp()) // 60}", at=at)
    return result
