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


def test_swing_cpu_accounts_the_full_swing_only():
    """Busy CPU seconds between the swing's first and last sample, per job finished there."""
    from bench.cpu import BusySampler, epoch
    from bench.settlement import swing_cpu

    start = datetime(2026, 11, 29, tzinfo=UTC)
    slow = [start + timedelta(seconds=i) for i in range(10)]  # start-up, 1 s apart
    fast = [slow[-1] + timedelta(milliseconds=10 * (i + 1)) for i in range(80)]  # 100/s
    tail = [fast[-1] + timedelta(seconds=i + 1) for i in range(10)]
    swing_start, swing_end = epoch(fast[0]), epoch(fast[-1])

    def busy_at(t: float) -> float:
        """Cumulative busy CPU seconds: 1.5 CPUs busy outside the full swing, 2 inside."""
        inside = min(max(t - swing_start, 0.0), swing_end - swing_start)
        return 1.5 * (t - epoch(slow[0]) - inside) + 2.0 * inside

    sampler = BusySampler()
    # a sample every 5 ms from the first finish to past the last one
    sampler.samples = [(t, busy_at(t)) for t in (epoch(slow[0]) + k / 200 for k in range(4000))]
    busy_cpus, ms_per_job = swing_cpu(tail + fast + slow, sampler)
    assert abs(busy_cpus - 2.0) < 0.05
    assert abs(ms_per_job - 20.0) < 1.0  # 2 CPUs at 100 jobs/s


def test_swing_cpu_of_too_few_finishes_or_samples_is_zero():
    from bench.cpu import BusySampler
    from bench.settlement import swing_cpu

    assert swing_cpu([], BusySampler()) == (0.0, 0.0)
    one_second = [datetime(2026, 11, 29, tzinfo=UTC) + timedelta(seconds=i) for i in range(20)]
    assert swing_cpu(one_second, BusySampler()) == (0.0, 0.0)  # no samples at all


def test_busy_sampler_sees_a_cpu_burning():
    """A real sampler: a thread burning 0.4 s of CPU shows up as at least that busy time."""
    import threading
    import time

    from bench.cpu import BusySampler

    def burn() -> None:
        end = time.thread_time() + 0.4
        while time.thread_time() < end:
            pass

    with BusySampler(interval=0.02) as sampler:
        started = datetime.now(UTC)
        worker = threading.Thread(target=burn)
        worker.start()
        worker.join()
        time.sleep(0.05)
        ended = datetime.now(UTC)
    busy, wall = sampler.between(started, ended)
    assert busy >= 0.3
    assert 0.3 <= wall <= (ended - started).total_seconds() + 0.001
