"""Daily rollups' fixed buckets: durations (review, the merchant's answer, a payout's arrival)
are kept as counts per bucket, so figures over any period are sums and percentiles are read
from summed buckets (the bucket's upper edge). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone

#: upper edges of the buckets, in minutes (the last bucket has none: longer than the last edge)
EDGES_MINUTES: tuple[int, ...] = (60, 240, 1440, 2880, 4320, 7200, 14400)
BUCKETS = len(EDGES_MINUTES) + 1
#: Beijing time: a rollup's day (the offset is fixed, China keeps no summer time)
BEIJING = timezone(timedelta(hours=8))
#: the longest period a dashboard sums
MAX_DAYS = 366
#: a buyer "came back" who paid for another order at the same shop within this many days
COME_BACK_DAYS = 30
#: the durations kept as buckets, each a column prefix of the rollup table
DURATIONS = ("review", "answer", "payout")


def bucket_of(seconds: float) -> int:
    """The bucket of a duration in seconds (negative durations count as the first bucket)."""
    for i, edge in enumerate(EDGES_MINUTES):
        if seconds < edge * 60:
            return i
    return len(EDGES_MINUTES)


def percentile_edge(counts: Sequence[int], pct: int) -> int | None:
    """The upper edge (minutes) of the bucket holding the ``pct``-th percentile (nearest rank)
    of the durations counted; -1 for the open last bucket; None when nothing was counted."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = max(1, -(-pct * total // 100))  # ceil(pct/100 * n), at least 1
    seen = 0
    for i, n in enumerate(counts):
        seen += n
        if seen >= rank:
            return EDGES_MINUTES[i] if i < len(EDGES_MINUTES) else -1
    return -1


def pct(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` in whole percent (rounded down), None for nothing."""
    return part * 100 // whole if whole > 0 else None


def day_of(moment: datetime) -> date:
    """The Beijing day of an aware moment."""
    return moment.astimezone(BEIJING).date()


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """The UTC moments from the start of ``first`` to the end of ``last`` (Beijing days),
    the end excluded."""
    start = datetime.combine(first, time(), BEIJING)
    end = datetime.combine(last + timedelta(days=1), time(), BEIJING)
    return start, end


def parse_day(raw: str) -> date | None:
    """A YYYY-MM-DD day, or None for anything else."""
    if len(raw) != 10:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
