"""The settlement bench's steady-state rate leaves worker start-up and stragglers out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.settlement import steady_rate


def test_steady_rate_is_the_rate_between_the_10th_and_90th_percentile_finishes():
    start = datetime(2026, 11, 29, tzinfo=UTC)
    # 10 jobs trickle out during start-up (1 s apart), 80 at 100 a second, 10 stragglers
    slow = [start + timedelta(seconds=i) for i in range(10)]
    fast = [slow[-1] + timedelta(milliseconds=10 * (i + 1)) for i in range(80)]
    tail = [fast[-1] + timedelta(seconds=i + 1) for i in range(10)]
    times = tail + fast + slow  # any order
    assert abs(steady_rate(times) - 100.0) < 2.0
    # start-up included, the same burst would look five times slower
    assert len(times) / (times[0] - slow[0]).total_seconds() < 20


def test_steady_rate_of_fewer_than_two_finishes_is_zero_not_an_error():
    """A phase where nothing (or one job) finished reports 0, and the bench still prints
    its figures and fails on its own exactly-once check instead of an IndexError."""
    assert steady_rate([]) == 0.0
    assert steady_rate([datetime(2026, 11, 29, tzinfo=UTC)]) == 0.0
