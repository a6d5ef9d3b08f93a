"""Nightly reconciliation: each bill-publishing channel's bill of the day before, fetched and
matched once the gateways publish it, retried with backoff while it is missing.

The periodic sweep (every minute) looks, from ``RECON_HOUR`` Beijing time, at yesterday's
(Beijing) run of every channel that is a ``BillProvider`` or whose imported statements are
its bill (the bank: missing while that day's statement has not been imported; importing one
enqueues its past days at once): none yet, or missing and its backoff over, enqueues
``reconcile_day(channel, day)`` under the job id ``recon-<channel>-<day>`` (one waiting
copy at most). A matched or refused day is left to the operators (who may fetch any past
day again from the page). A day still missing or refused at ``RECON_DEADLINE_HOUR`` is
raised to staff once (a notice, an event). The job is safe to run twice: matching the same
day again adds no difference.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from jobs.runtime import with_app
from portal.domain.reconciliation import BEIJING, RunStatus
from portal.infra.queue import release_once
from portal.models import ReconRun
from portal.services import context
from portal.services.errors import DomainError
from portal.services.reconciliation import days, fetching, matching

log = logging.getLogger(__name__)
#: waits after each missing attempt, then the last one again
BACKOFF = (
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
)


def due(run: ReconRun | None, now: datetime) -> bool:
    """Whether the day's bill should be fetched now (no run yet, or missing and waited)."""
    if run is None:
        return True
    if run.status != RunStatus.MISSING:
        return False
    wait = BACKOFF[min(max(run.attempts, 1), len(BACKOFF)) - 1]
    return run.updated_at + wait <= now


def sweep_reconciliation() -> int:
    """Enqueue yesterday's reconciliation for every channel it is due for; how many."""
    now = context.now()
    local = now.astimezone(BEIJING)
    if local.hour < int(context.setting("RECON_HOUR")):
        return 0
    day = local.date() - timedelta(days=1)
    runs = days.runs_of_day(day)
    overdue = local.hour >= int(context.setting("RECON_DEADLINE_HOUR"))
    count = 0
    for channel_id in fetching.providers():
        run = runs.get(channel_id)
        if overdue and run is not None and run.status != RunStatus.MATCHED and not run.raised_at:
            matching.raise_overdue(run.id)
        if due(run, now) and fetching.enqueue_day(channel_id, day):
            count += 1
    return count


@with_app
def reconcile_day(channel_id: str, day_iso: str) -> str:
    """Fetch and match one channel's bill of one Beijing day; what it came to."""
    day = date.fromisoformat(day_iso)
    release_once(fetching.job_id(channel_id, day))
    try:
        outcome = fetching.fetch_and_reconcile(channel_id, day)
    except DomainError as exc:
        return f"{channel_id} {day}: {exc}"
    log.info("reconciliation %s %s: %s", channel_id, day, outcome.status)
    return (
        f"{channel_id} {day}: {outcome.status}, {len(outcome.new_differences)} new, "
        f"{outcome.open_differences} open"
    )
