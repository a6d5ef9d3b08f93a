"""Working days on the official Chinese calendar, for review deadlines and SLA figures.

Which days are working days comes from the ``chinese-calendar`` package (public holidays
and the make-up working weekends, 调休), corrected by the operator's configuration
(``CALENDAR_EXTRA_HOLIDAYS`` / ``CALENDAR_EXTRA_WORKDAYS``). For a year the package has no
data for (it raises ``NotImplementedError``, e.g. 2027 with 1.11.0), only Saturdays and
Sundays are days off, plus the operator's configuration; a warning is logged once per
such year and calendar.

How deadlines are counted (the "working clock")
-----------------------------------------------
All dates are local dates in the calendar's time zone (Asia/Shanghai by default). Time
runs only on working days: an instant on a non-working day counts as 00:00 of the next
working day (as if the case had been submitted when the office opened). From there:

* ``add_working_days(start, n)`` is the same local time of day on the n-th working day
  after that (normalised) day; the day itself is not counted, like 民法典 art. 201
  ("开始的当日不计入"), but the clock time is kept, as customer-service SLAs do: submitted
  Monday 15:00, 3 working days are due Thursday 15:00. Submitted on Saturday or on a
  holiday, the clock starts at 00:00 of the next working day D, and the deadline is 00:00
  of the n-th working day after D: the case still gets n full working days (D and the
  n - 1 working days after it), and a deadline never falls on a day off, so nothing
  escalates on a holiday morning. ``n == 0`` gives the normalised start.
* ``working_days_before(deadline, n)`` runs the same clock backwards.
* ``working_days_between(a, b)`` is how many whole working days passed from ``a`` to
  ``b``: the largest k with ``add_working_days(a, k) <= b``, so a case is late past its
  n-working-day deadline exactly when ``working_days_between(submitted, now) >= n``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

log = logging.getLogger("portal.calendar")

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")

HOLIDAYS_KEY = "CALENDAR_EXTRA_HOLIDAYS"
WORKDAYS_KEY = "CALENDAR_EXTRA_WORKDAYS"
TIMEZONE_KEY = "CALENDAR_TIMEZONE"

_ONE_DAY = timedelta(days=1)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# A gap longer than this between two working days means the configuration is broken
# (e.g. every day declared a holiday); stop instead of looping for ever.
_MAX_GAP_DAYS = 366


@lru_cache(maxsize=16384)
def _official_is_workday(day: date) -> bool | None:
    """The package's answer for ``day``, or ``None`` when it has no data for that year."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return None


class WorkingCalendar:
    """Which local dates are working days, and deadline arithmetic over them.

    ``extra_holidays`` and ``extra_workdays`` override the package for the dates they
    name (operator corrections, or the official calendar of a year the package does not
    know yet). A date may not be in both.
    """

    def __init__(
        self,
        extra_holidays: Iterable[date] = (),
        extra_workdays: Iterable[date] = (),
        tz: tzinfo | None = None,
    ) -> None:
        holidays = frozenset(_plain_date(d, HOLIDAYS_KEY) for d in extra_holidays)
        workdays = frozenset(_plain_date(d, WORKDAYS_KEY) for d in extra_workdays)
        both = holidays & workdays
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates configured as both holiday and workday: {listed}")
        self._extra_holidays = holidays
        self._extra_workdays = workdays
        self._tz = tz if tz is not None else DEFAULT_TZ
        self._cache: dict[date, bool] = {}
        self._warned_years: set[int] = set()
        self._warn_lock = threading.Lock()

    @property
    def tz(self) -> tzinfo:
        """The time zone whose local dates are counted."""
        return self._tz

    @property
    def extra_holidays(self) -> frozenset[date]:
        """Dates the operator declared days off."""
        return self._extra_holidays

    @property
    def extra_workdays(self) -> frozenset[date]:
        """Dates the operator declared working days."""
        return self._extra_workdays

    def __repr__(self) -> str:
        return (
            f"WorkingCalendar(extra_holidays={len(self._extra_holidays)}, "
            f"extra_workdays={len(self._extra_workdays)}, tz={self._tz!s})"
        )

    # -- days ---------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether the local date ``d`` is a working day (a datetime is not accepted)."""
        d = _plain_date(d, "date")
        cached = self._cache.get(d)
        if cached is not None:
            return cached
        if d in self._extra_holidays:
            answer = False
        elif d in self._extra_workdays:
            answer = True
        else:
            official = _official_is_workday(d)
            if official is None:
                self._warn_unknown_year(d.year)
                answer = d.weekday() < 5
            else:
                answer = official
        self._cache[d] = answer
        return answer

    def _warn_unknown_year(self, year: int) -> None:
        with self._warn_lock:
            if year in self._warned_years:
                return
            self._warned_years.add(year)
        configured = sum(1 for d in self._extra_holidays | self._extra_workdays if d.year == year)
        log.warning(
            "chinese-calendar has no data for %d: counting Saturdays and Sundays as days off, "
            "plus %d date(s) from %s/%s; add that year's official holidays and make-up "
            "working days there",
            year,
            configured,
            HOLIDAYS_KEY,
            WORKDAYS_KEY,
        )

    def next_working_day(self, d: date) -> date:
        """The first working day on or after ``d``."""
        for _ in range(_MAX_GAP_DAYS + 1):
            if self.is_working_day(d):
                return d
            d += _ONE_DAY
        raise ValueError(f"no working day within {_MAX_GAP_DAYS} days of {d.isoformat()}")

    def _step(self, d: date, n: int, direction: int) -> date:
        """The n-th working day after (direction 1) or before (-1) ``d``."""
        step = _ONE_DAY * direction
        remaining = n
        gap = 0
        while remaining:
            d += step
            if self.is_working_day(d):
                remaining -= 1
                gap = 0
            else:
                gap += 1
                if gap > _MAX_GAP_DAYS:
                    raise ValueError(f"no working day within {_MAX_GAP_DAYS} days of {d}")
        return d

    # -- instants -----------------------------------------------------------------------

    def _local(self, moment: datetime, name: str) -> datetime:
        if not isinstance(moment, datetime):
            raise TypeError(f"{name} must be a datetime, not {type(moment).__name__}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware: {moment!r}")
        return moment.astimezone(self._tz)

    def _on_clock(self, local: datetime) -> tuple[date, time]:
        """Local date and wall time of an instant, moved off a non-working day."""
        day = local.date()
        if self.is_working_day(day):
            return day, local.timetz().replace(tzinfo=None)
        return self.next_working_day(day), time(0)

    def _at(self, day: date, wall: time, like: datetime) -> datetime:
        local = datetime.combine(day, wall, tzinfo=self._tz)
        return local.astimezone(like.tzinfo)

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """The deadline ``n`` working days after ``start`` (aware), in ``start``'s time zone.

        Same local time of day as ``start``, on the n-th working day after start's local
        date. A ``start`` on a non-working day counts as 00:00 of the next working day D,
        so the deadline is 00:00 of the n-th working day after D (n full working days).
        ``n == 0`` returns ``start``, or that 00:00 when start is on a day off.
        """
        _check_count(n)
        local = self._local(start, "start")
        day, wall = self._on_clock(local)
        if n == 0 and day == local.date():
            return start
        return self._at(self._step(day, n, 1), wall, start)

    def working_days_before(self, deadline: datetime, n: int) -> datetime:
        """The instant ``n`` working days before ``deadline`` (aware), in its time zone.

        Same local time of day on the n-th working day before the deadline's local date;
        a deadline on a non-working day first moves to 00:00 of the next working day.
        ``working_days_before(add_working_days(s, n), n)`` gives ``s`` back when ``s`` is
        on a working day.
        """
        _check_count(n)
        local = self._local(deadline, "deadline")
        day, wall = self._on_clock(local)
        if n == 0 and day == local.date():
            return deadline
        return self._at(self._step(day, n, -1), wall, deadline)

    def working_days_between(self, a: datetime, b: datetime) -> int:
        """Whole working days elapsed from ``a`` to ``b`` (negative when ``b`` is earlier).

        The largest ``k`` with ``add_working_days(a, k) <= b``: a case submitted Monday
        15:00 has been waiting 2 working days on Wednesday at 15:00, still 2 on Thursday at
        14:59, and 3 from Thursday 15:00 on.
        """
        local_a = self._local(a, "a")
        local_b = self._local(b, "b")
        if local_b < local_a:
            return -self.working_days_between(b, a)
        day_a, wall_a = self._on_clock(local_a)
        day_b, wall_b = self._on_clock(local_b)
        # Working day k after day_a is where add_working_days(a, k) lands, at wall_a.
        count = 0
        d = day_a
        while d < day_b:
            d += _ONE_DAY
            if self.is_working_day(d):
                count += 1
        # On day_b itself that deadline is reached only if b is on day_b at or after
        # wall_a; a b on a day off comes before all of day_b.
        if count and (day_b != local_b.date() or wall_b < wall_a):
            count -= 1
        return count


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {n!r}")
    if n < 0:
        raise ValueError(f"n must not be negative: {n}")


def _plain_date(value: Any, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise TypeError(f"{name}: expected a date, got {value!r}")
    return value


def _parse_dates(value: Any, key: str) -> list[date]:
    """ISO dates from a list (strings or dates) or a comma-separated string."""
    if value is None:
        return []
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, Iterable):
        items = value
    else:
        raise ValueError(f"{key}: expected a list of ISO dates or a comma-separated string")
    dates: list[date] = []
    for item in items:
        if isinstance(item, date) and not isinstance(item, datetime):
            dates.append(item)
            continue
        text = item.strip() if isinstance(item, str) else item
        if text == "":
            continue
        try:
            if not isinstance(text, str) or not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            dates.append(date.fromisoformat(text))
        except ValueError:
            raise ValueError(f"{key}: not an ISO date (YYYY-MM-DD): {item!r}") from None
    return dates


def from_config(mapping: Mapping[str, Any]) -> WorkingCalendar:
    """Build the calendar from settings.

    Reads ``CALENDAR_EXTRA_HOLIDAYS`` and ``CALENDAR_EXTRA_WORKDAYS`` (lists of ISO
    dates, or one comma-separated string, as an environment variable gives) and the
    optional ``CALENDAR_TIMEZONE`` (default Asia/Shanghai). A malformed entry raises
    ``ValueError`` naming the key and the entry.
    """
    holidays = _parse_dates(mapping.get(HOLIDAYS_KEY), HOLIDAYS_KEY)
    workdays = _parse_dates(mapping.get(WORKDAYS_KEY), WORKDAYS_KEY)
    tz_name = mapping.get(TIMEZONE_KEY)
    tz: tzinfo | None = None
    if tz_name:
        try:
            tz = ZoneInfo(str(tz_name))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{TIMEZONE_KEY}: unknown time zone {tz_name!r}") from None
    return WorkingCalendar(extra_holidays=holidays, extra_workdays=workdays, tz=tz)
