"""The dashboards' daily rollups, as jobs: ``rebuild_day`` rebuilds one Beijing day set-based,
``rebuild_days`` a range (safe to run twice: the days' rows are replaced in one transaction).
The periodic sweep enqueues today's every minute (one waiting copy at most) and, once, an hour
after midnight, the month up to yesterday: the day that just ended is then counted whole, with
what arrived late for its last minutes (a payment notice, an order sent by the shop's API),
and the days whose buyers may still come back (``COME_BACK_DAYS``) take in those who did.
Orders received with an older payment time (an import, a shop's order source catching up)
have their days rebuilt too. ``count_backlog`` counts the open cases by age, once a minute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from jobs.runtime import with_app
from portal.domain import rollups as buckets
from portal.infra import singleton
from portal.infra.queue import enqueue_once, redis_connection, release_once
from portal.services import context
from portal.services.reports import backlog, rollups

#: how long a waiting copy blocks the next (the sweep asks every minute)
WAIT_SECONDS = 300
#: the claim on yesterday's final rebuild outlives the day, so it is enqueued once
CLAIM_SECONDS = 2 * 24 * 3600
#: how long after midnight (Beijing) yesterday's final rebuild waits for late arrivals
FINAL_AFTER = timedelta(hours=1)
#: where the sweep keeps the time it last looked for orders received late
LATE_KEY = "portal:rollup-late-since"
#: looked for again: an order's event written just before the last look may commit after it
LATE_SLACK = timedelta(minutes=5)


#: the once-key (and job id prefix) of the backlog's count
BACKLOG = "rollup-backlog"


def job_id(day: str) -> str:
    """The job id (and once-key) of a day's rebuild."""
    return f"rollup-{day}"


@with_app
def rebuild_day(day: str) -> int:
    """Rebuild the rollups of ``day`` (YYYY-MM-DD, Beijing); returns the rows written."""
    release_once(job_id(day))
    parsed = buckets.parse_day(day)
    if parsed is None:
        raise ValueError(f"not a day: {day!r}")
    return rollups.rebuild(parsed, parsed)


@with_app
def rebuild_days(first: str, last: str) -> int:
    """Rebuild the rollups of the days ``first`` to ``last`` (YYYY-MM-DD, Beijing); returns the
    rows written."""
    release_once(job_id(f"{first}..{last}"))
    start, end = buckets.parse_day(first), buckets.parse_day(last)
    if start is None or end is None:
        raise ValueError(f"not days: {first!r} to {last!r}")
    return rollups.rebuild(start, end)


def enqueue_due() -> int:
    """Enqueue today's rebuild, and once a day (from ``FINAL_AFTER`` past midnight) the
    month's up to yesterday; how many were enqueued."""
    now = context.now()
    today = buckets.day_of(now)
    yesterday = today - timedelta(days=1)
    first = (yesterday - timedelta(days=buckets.COME_BACK_DAYS)).isoformat()
    count = 0
    final_due = now >= buckets.day_bounds(today, today)[0] + FINAL_AFTER
    claimed = final_due and redis_connection().set(
        f"portal:rollup-final:{yesterday.isoformat()}",
        singleton.holder(),
        nx=True,
        ex=CLAIM_SECONDS,
    )
    final = (first, yesterday.isoformat())
    if claimed and enqueue_once(
        job_id("..".join(final)), WAIT_SECONDS, "jobs.rollups.rebuild_days", *final
    ):
        count += 1
    day = today.isoformat()
    if enqueue_once(job_id(day), WAIT_SECONDS, "jobs.rollups.rebuild_day", day):
        count += 1
    for late in _late_days(now, today):
        if enqueue_once(job_id(late), WAIT_SECONDS, "jobs.rollups.rebuild_day", late):
            count += 1
    return count


def _late_days(now: datetime, today: date) -> list[str]:
    """Past days with orders received since the last look (the first look: the last hour)."""
    conn = redis_connection()
    raw: Any = conn.get(LATE_KEY)
    since = datetime.fromtimestamp(float(raw), UTC) if raw else now - timedelta(hours=1)
    days = rollups.late_days(since - LATE_SLACK, today)
    conn.set(LATE_KEY, str(now.timestamp()), ex=CLAIM_SECONDS)
    return [d.isoformat() for d in days]


@with_app
def count_backlog() -> int:
    """Count the open cases by age again (per shop and for the platform); the rows written."""
    release_once(BACKLOG)
    return backlog.refresh()


def enqueue_backlog() -> int:
    """Enqueue the backlog's count unless a copy is waiting; 1 if enqueued."""
    return 1 if enqueue_once(BACKLOG, WAIT_SECONDS, "jobs.rollups.count_backlog") else 0
