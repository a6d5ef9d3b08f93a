"""Working-day calendar: the real 2026 official calendar, the 2027 fallback, config parsing."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from portal.domain.calendar import WorkingCalendar, from_config

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkingCalendar()


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SH)


def test_package_data_this_suite_relies_on():
    # 2026 Spring Festival: Feb 15-23 off, Saturdays Feb 14 and Feb 28 worked (调休);
    # National Day: Oct 1-7 off, Saturday Oct 10 worked.
    for d in (date(2026, 2, 14), date(2026, 2, 28), date(2026, 10, 10)):
        assert d.weekday() == 5
        assert chinese_calendar.is_workday(d)
    for d in (date(2026, 2, 16), date(2026, 2, 23), date(2026, 10, 1), date(2026, 10, 7)):
        assert d.weekday() < 5
        assert chinese_calendar.is_holiday(d)
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 4))


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 3, 9), True),  # plain Monday
        (date(2026, 3, 14), False),  # plain Saturday
        (date(2026, 2, 14), True),  # make-up Saturday before Spring Festival
        (date(2026, 2, 17), False),  # Spring Festival, a Tuesday
        (date(2026, 2, 28), True),  # make-up Saturday after Spring Festival
        (date(2026, 10, 6), False),  # National Day week, a Tuesday
        (date(2026, 10, 10), True),  # make-up Saturday after National Day
        (date(2027, 1, 1), True),  # unknown year: a Friday is worked
        (date(2027, 1, 2), False),  # unknown year: Saturday off
    ],
)
def test_is_working_day(day, working):
    assert WorkingCalendar().is_working_day(day) is working


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # plain week: Monday 15:00 -> Thursday 15:00
        (at(2026, 3, 9, 15), 3, at(2026, 3, 12, 15)),
        # Friday -> Wednesday over a weekend
        (at(2026, 3, 13, 9, 30), 3, at(2026, 3, 18, 9, 30)),
        (at(2026, 3, 13, 17), 1, at(2026, 3, 16, 17)),
        # just before Spring Festival: make-up Sat Feb 14 (1), then after the holiday Feb 24 (2),
        # Feb 25 (3)
        (at(2026, 2, 13, 10), 3, at(2026, 2, 25, 10)),
        (at(2026, 2, 12, 10), 3, at(2026, 2, 24, 10)),
        # make-up Saturday Feb 28 counts: Thu Feb 26 -> Fri 27 (1), Sat 28 (2), Mon Mar 2 (3)
        (at(2026, 2, 26, 16), 3, at(2026, 3, 2, 16)),
        # the day before National Day: Oct 8 (1), Oct 9 (2), make-up Sat Oct 10 (3)
        (at(2026, 9, 30, 11), 3, at(2026, 10, 10, 11)),
        # make-up Sunday Sep 20 before Mid-autumn: Fri Sep 18 -> Sun 20 (1), Mon 21 (2)
        (at(2026, 9, 18, 8), 2, at(2026, 9, 21, 8)),
        # n = 0 on a working day is the start itself
        (at(2026, 3, 10, 12), 0, at(2026, 3, 10, 12)),
    ],
)
def test_add_working_days_2026(start, n, deadline):
    assert CAL.add_working_days(start, n) == deadline


@pytest.mark.parametrize(
    ("start", "n", "deadline"),
    [
        # submitted on a holiday: the clock starts at 00:00 on Thu Oct 8; the case gets
        # Oct 8, Oct 9 and make-up Sat Oct 10 in full; due 00:00 on Mon Oct 12
        (at(2026, 10, 3, 14), 3, at(2026, 10, 12, 0)),
        (at(2026, 10, 3, 14), 1, at(2026, 10, 9, 0)),
        # n = 0 on a day off: the start of the next working day
        (at(2026, 10, 3, 14), 0, at(2026, 10, 8, 0)),
        # Spring Festival Monday (Feb 23, a weekday holiday) -> clock starts Tue Feb 24
        (at(2026, 2, 23, 23, 59), 3, at(2026, 2, 27, 0)),
        # a plain Sunday: clock starts Monday, due Thursday 00:00
        (at(2026, 3, 15, 20), 3, at(2026, 3, 19, 0)),
    ],
)
def test_submitted_on_a_day_off(start, n, deadline):
    assert CAL.add_working_days(start, n) == deadline
    # the deadline itself is never on a day off
    assert CAL.is_working_day(deadline.date())


def test_local_date_decides_and_input_zone_is_kept():
    # Sunday 20:00 UTC is Monday 04:00 in Shanghai: a working day.
    start = datetime(2026, 3, 8, 20, 0, tzinfo=UTC)
    due = CAL.add_working_days(start, 1)
    assert due.tzinfo is UTC
    assert due == datetime(2026, 3, 9, 20, 0, tzinfo=UTC)  # Tue 04:00 Shanghai
    # Friday 17:00 UTC is Saturday 01:00 in Shanghai: a day off, clock starts Monday 00:00.
    start = datetime(2026, 3, 13, 17, 0, tzinfo=UTC)
    assert CAL.add_working_days(start, 1) == at(2026, 3, 17, 0)
    assert CAL.add_working_days(start, 1).tzinfo is UTC


def test_working_days_before():
    # remind 1 working day before a deadline after the holiday: skips back over it
    assert CAL.working_days_before(at(2026, 2, 24, 10), 1) == at(2026, 2, 14, 10)
    assert CAL.working_days_before(at(2026, 3, 2, 16), 1) == at(2026, 2, 28, 16)
    assert CAL.working_days_before(at(2026, 3, 18, 9), 3) == at(2026, 3, 13, 9)
    # a deadline on a day off counts from 00:00 of the next working day
    assert CAL.working_days_before(at(2026, 10, 4, 9), 1) == at(2026, 9, 30, 0)
    assert CAL.working_days_before(at(2026, 3, 10, 12), 0) == at(2026, 3, 10, 12)


@pytest.mark.parametrize(
    ("a", "b", "days"),
    [
        (at(2026, 3, 9, 15), at(2026, 3, 11, 15), 2),
        (at(2026, 3, 9, 15), at(2026, 3, 12, 14, 59), 2),
        (at(2026, 3, 9, 15), at(2026, 3, 12, 15), 3),
        (at(2026, 3, 9, 15), at(2026, 3, 9, 23), 0),
        # over Spring Festival: only the make-up Saturday and Feb 24 passed
        (at(2026, 2, 13, 10), at(2026, 2, 24, 10), 2),
        (at(2026, 2, 13, 10), at(2026, 2, 23, 18), 1),
        # both ends in the same stretch of days off
        (at(2026, 10, 2, 9), at(2026, 10, 6, 9), 0),
        # a start at exactly 00:00 Wednesday is due 00:00 Monday, not at the weekend
        (at(2026, 3, 11, 0), at(2026, 3, 14, 12), 2),
        (at(2026, 3, 11, 0), at(2026, 3, 15, 23, 59), 2),
        (at(2026, 3, 11, 0), at(2026, 3, 16, 0), 3),
        # Friday 10:00 to Saturday: not a whole working day yet
        (at(2026, 3, 13, 10), at(2026, 3, 14, 12), 0),
        # reversed order is negative
        (at(2026, 3, 12, 15), at(2026, 3, 9, 15), -3),
    ],
)
def test_working_days_between(a, b, days):
    assert CAL.working_days_between(a, b) == days


def test_late_past_three_working_days():
    submitted = at(2026, 9, 30, 11)
    due = CAL.add_working_days(submitted, 3)
    assert CAL.working_days_between(submitted, due - timedelta(seconds=1)) == 2
    assert CAL.working_days_between(submitted, due) == 3


def test_unknown_year_counts_weekends_only_and_warns_once(caplog):
    cal = WorkingCalendar()
    caplog.set_level(logging.WARNING, logger="portal.calendar")
    # Wed Dec 30 2026: Thu Dec 31 (1), Fri Jan 1 2027 (2, no data: a plain Friday),
    # Sat/Sun off, Mon Jan 4 (3)
    assert cal.add_working_days(at(2026, 12, 30), 3) == at(2027, 1, 4)
    assert cal.add_working_days(at(2026, 12, 31), 3) == at(2027, 1, 5)
    assert cal.add_working_days(at(2027, 1, 8, 9), 1) == at(2027, 1, 11, 9)
    assert cal.working_days_between(at(2026, 12, 30), at(2027, 2, 1)) == 23
    assert cal.is_working_day(date(2027, 6, 5)) is False
    warnings = [r for r in caplog.records if r.name == "portal.calendar"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert "2027" in warnings[0].getMessage()
    # another unknown year gets its own single warning
    cal.add_working_days(at(2028, 3, 1), 2)
    cal.add_working_days(at(2028, 3, 1), 5)
    years = [r.args[0] for r in caplog.records if r.name == "portal.calendar"]
    assert years == [2027, 2028]


def test_known_years_do_not_warn(caplog):
    caplog.set_level(logging.WARNING, logger="portal.calendar")
    cal = WorkingCalendar()
    cal.add_working_days(at(2026, 2, 13), 10)
    cal.working_days_between(at(2025, 1, 1), at(2026, 12, 31))
    assert not [r for r in caplog.records if r.name == "portal.calendar"]


def test_operator_config_for_2027_is_honoured():
    cal = WorkingCalendar(
        extra_holidays=[date(2027, 1, 1)],
        # a make-up working Saturday the operator knows about
        extra_workdays=[date(2027, 1, 9)],
    )
    assert not cal.is_working_day(date(2027, 1, 1))
    assert cal.is_working_day(date(2027, 1, 9))
    # Dec 31 (1), Jan 1 off, Jan 4 (2), Jan 5 (3)
    assert cal.add_working_days(at(2026, 12, 30), 3) == at(2027, 1, 5)
    # Fri Jan 8 -> make-up Sat Jan 9 (1) -> Mon Jan 11 (2)
    assert cal.add_working_days(at(2027, 1, 8, 15), 2) == at(2027, 1, 11, 15)
    # the plain calendar disagrees on both
    assert CAL.add_working_days(at(2026, 12, 30), 3) == at(2027, 1, 4)
    assert CAL.add_working_days(at(2027, 1, 8, 15), 2) == at(2027, 1, 12, 15)


def test_operator_config_overrides_the_package():
    cal = WorkingCalendar(extra_holidays=[date(2026, 3, 10)], extra_workdays=[date(2026, 10, 7)])
    assert not cal.is_working_day(date(2026, 3, 10))
    assert cal.is_working_day(date(2026, 10, 7))
    # Mon Mar 9 -> Wed 11 (1), Thu 12 (2), Fri 13 (3)
    assert cal.add_working_days(at(2026, 3, 9, 15), 3) == at(2026, 3, 13, 15)
    # submitted Oct 3: clock starts at the operator's working Oct 7
    assert cal.add_working_days(at(2026, 10, 3), 1) == at(2026, 10, 8, 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="timezone-aware"):
        CAL.add_working_days(datetime(2026, 3, 9, 10), 1)
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working_days(at(2026, 3, 9), -1)
    with pytest.raises(ValueError, match="negative"):
        CAL.working_days_before(at(2026, 3, 9), -2)
    with pytest.raises(TypeError):
        CAL.add_working_days(at(2026, 3, 9), 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        CAL.is_working_day(at(2026, 3, 9))
    with pytest.raises(ValueError, match="2026-05-01"):
        WorkingCalendar(extra_holidays=[date(2026, 5, 1)], extra_workdays=[date(2026, 5, 1)])


def test_everything_off_does_not_loop_for_ever():
    days = [date(2027, 1, 1) + timedelta(days=i) for i in range(400)]
    cal = WorkingCalendar(extra_holidays=days)
    with pytest.raises(ValueError, match="no working day"):
        cal.add_working_days(at(2027, 1, 1), 1)


# -- from_config ---------------------------------------------------------------------------


def test_from_config_lists_and_strings():
    cal = from_config(
        {
            "CALENDAR_EXTRA_HOLIDAYS": ["2027-01-01", "2027-02-05"],
            "CALENDAR_EXTRA_WORKDAYS": " 2027-01-09, 2027-01-30 ,",
        }
    )
    assert cal.extra_holidays == {date(2027, 1, 1), date(2027, 2, 5)}
    assert cal.extra_workdays == {date(2027, 1, 9), date(2027, 1, 30)}
    assert cal.tz == SH
    assert cal.add_working_days(at(2026, 12, 30), 3) == at(2027, 1, 5)


def test_from_config_defaults_and_timezone():
    assert from_config({}).extra_holidays == frozenset()
    cal = from_config(
        {
            "CALENDAR_EXTRA_HOLIDAYS": [],
            "CALENDAR_EXTRA_WORKDAYS": "",
            "CALENDAR_TIMEZONE": "UTC",
        }
    )
    assert cal.extra_workdays == frozenset()
    # 20:00 UTC Sunday is a Sunday in UTC: a day off there
    assert cal.add_working_days(datetime(2026, 3, 8, 20, tzinfo=UTC), 0) == datetime(
        2026, 3, 9, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"CALENDAR_EXTRA_HOLIDAYS": ["2027-01-01", "2027-13-01"]}, "2027-13-01"),
        ({"CALENDAR_EXTRA_HOLIDAYS": "2027-01-01,2027/01/02"}, "2027/01/02"),
        ({"CALENDAR_EXTRA_WORKDAYS": ["2027-02-30"]}, "2027-02-30"),
        ({"CALENDAR_EXTRA_WORKDAYS": "next friday"}, "next friday"),
        ({"CALENDAR_EXTRA_WORKDAYS": [20270109]}, "20270109"),
        ({"CALENDAR_EXTRA_WORKDAYS": ["20270109"]}, "20270109"),
    ],
)
def test_from_config_bad_date_is_named(config, named):
    key = next(iter(config))
    with pytest.raises(ValueError, match=key) as info:
        from_config(config)
    assert named in str(info.value)


def test_from_config_bad_timezone_and_conflict():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        from_config({"CALENDAR_TIMEZONE": "Mars/Olympus"})
    with pytest.raises(ValueError, match="2027-01-01"):
        from_config(
            {
                "CALENDAR_EXTRA_HOLIDAYS": "2027-01-01",
                "CALENDAR_EXTRA_WORKDAYS": ["2027-01-01"],
            }
        )


# -- properties ----------------------------------------------------------------------------

PROP_CAL = WorkingCalendar(extra_holidays=[date(2027, 1, 1)], extra_workdays=[date(2027, 2, 6)])

starts = st.datetimes(
    min_value=datetime(2025, 6, 1),
    max_value=datetime(2027, 6, 30),
    timezones=st.sampled_from([SH, UTC]),
)
counts = st.integers(min_value=0, max_value=25)


def local_day(moment: datetime) -> date:
    return moment.astimezone(SH).date()


@settings(max_examples=300, deadline=None)
@given(start=starts, n1=counts, n2=counts)
def test_property_monotonic_in_n(start, n1, n2):
    lo, hi = sorted((n1, n2))
    a = PROP_CAL.add_working_days(start, lo)
    b = PROP_CAL.add_working_days(start, hi)
    assert a <= b
    if lo < hi:
        assert a < b
    assert a >= start


@settings(max_examples=300, deadline=None)
@given(start=starts, n=st.integers(min_value=1, max_value=25))
def test_property_lands_on_a_working_day(start, n):
    due = PROP_CAL.add_working_days(start, n)
    assert PROP_CAL.is_working_day(local_day(due))
    assert due.utcoffset() == start.utcoffset()


@settings(max_examples=300, deadline=None)
@given(start=starts, n=counts)
@example(start=datetime(2027, 6, 30, 0, 0, tzinfo=SH), n=3)
def test_property_between_and_before_invert_add(start, n):
    due = PROP_CAL.add_working_days(start, n)
    assert PROP_CAL.working_days_between(start, due) == n
    if PROP_CAL.is_working_day(local_day(start)):
        assert PROP_CAL.working_days_before(due, n) == start
        if n:
            assert PROP_CAL.working_days_between(start, due - timedelta(microseconds=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(start=starts, elapsed=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
@example(start=datetime(2026, 3, 11, 0, 0, tzinfo=SH), elapsed=timedelta(days=4))
def test_property_between_brackets_the_deadlines(start, elapsed):
    # k = between(a, b) is exactly the number of deadlines a has already passed by b
    b = start + elapsed
    k = PROP_CAL.working_days_between(start, b)
    assert k >= 0
    assert PROP_CAL.working_days_between(b, start) == -k
    # (with k == 0 the lower bound is start itself: add(start, 0) may be the next working day)
    reached = PROP_CAL.add_working_days(start, k) if k else start
    assert reached <= b < PROP_CAL.add_working_days(start, k + 1)
