"""Periodic sweeps: the database is the truth, the scheduler only a reminder.

``sweep_payouts`` re-enqueues payouts that a lost job (worker killed, Redis
flushed, restart) left behind; it reschedules itself.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from jobs.audit import enqueue_due_seal
from jobs.channel_keys import sweep_channel_keys
from jobs.order_sources import sweep_order_sources
from jobs.reconcile import sweep_reconciliation
from jobs.retention import enqueue_daily as enqueue_retention
from jobs.rollups import enqueue_backlog
from jobs.rollups import enqueue_due as enqueue_rollups
from jobs.runtime import with_app
from jobs.webhooks import sweep as sweep_webhooks
from portal.infra import metrics, singleton
from portal.infra.queue import enqueue, enqueue_once, job_meta, queue, release_once
from portal.services import context
from portal.services.deadlines import deadline_bulk, deadline_rules
from portal.services.deadlines.sweeps import due_payout_ids

SWEEP_EVERY = timedelta(seconds=60)
#: a payout created this recently is left to the job its approval enqueued
GRACE = timedelta(seconds=30)
#: the sweep's lock outlives RQ's default job timeout (180 s), after which RQ stops the job
HOLD_SECONDS = 240


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
    q, meta = queue(), job_meta()
    for rule in deadline_rules.STATE_RULES:
        for ids in deadline_bulk.due_batches(rule, now):
            q.enqueue_many(
                [q.prepare_data("jobs.deadlines.fire", args=(rule, i), meta=meta) for i in ids]
            )
            count += len(ids)
    return count


@with_app
def sweep(reschedule: bool = True, due: float | None = None) -> dict[str, int]:
    """The periodic sweep: payouts left behind, deadlines passed, webhook deliveries whose
    job was lost, channel keys due for a refresh, the shops' order sources to read,
    yesterday's bills to reconcile, the audit trail's daily seal, the day's retention run
    (personal data past its period erased) and the dashboards' rollups of today (and, once,
    yesterday) and their count of the open backlog; reschedules itself for
    the next minute.

    ``due``: the Unix time it was scheduled for (its lag is measured against it). Runs once
    per minute however many workers hold a copy (``portal.infra.singleton``); a copy that
    finds its minute taken returns ``{"skipped": 1}`` (and still schedules the next one, under
    the same job id as every other copy does, so copies merge into one chain).
    """
    started = time.perf_counter()
    now = context.now()
    lag = now.timestamp() - due if due is not None else None
    release_once("sweep-seed")
    minute = int(due if due is not None else now.timestamp()) // 60
    with singleton.once("sweep", str(minute), HOLD_SECONDS) as mine:
        if mine:
            result = {
                "payouts": sweep_payouts(reschedule=False),
                "deadlines": sweep_deadlines(),
                "webhooks": sweep_webhooks(),
                "channel_keys": sweep_channel_keys(),
                "reconciliation": sweep_reconciliation(),
                "audit_seal": enqueue_due_seal(),
                "order_sources": sweep_order_sources(),
                "retention": enqueue_retention(),
                "rollups": enqueue_rollups(),
                "backlog": enqueue_backlog(),
            }
        else:
            result = {"skipped": 1}
    if reschedule:
        # the start of the next minute: every copy, wherever it ran, picks the same time and id
        at = datetime.fromtimestamp((int(now.timestamp()) // 60 + 1) * 60, UTC)
        enqueue(
            "jobs.sweeps.sweep",
            True,
            at.timestamp(),
            job_id=f"sweep-{int(at.timestamp()) // 60}",
            at=at,
        )
    if mine:
        metrics.sweep_ran(time.perf_counter() - started, lag)
    return result
