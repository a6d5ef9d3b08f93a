"""CPU seconds spent by each role during a bench phase: where a job's cost goes.

A phase is measured by taking a ``snapshot`` before and after it and subtracting:

- ``workers``: processes this one started and has waited for since (the RQ workers, with
  their work-horses, which each worker waits for);
- ``portal``: the processes serving the live portal (gateway notifications): the bench's
  gunicorn, or this process where its threads serve it;
- ``simulator``: the gateway simulator's process, still running;
- ``machine``: every CPU's busy time, whoever spent it (Redis, the database, the kernel).

A :class:`BusySampler` also records the machine's busy time every tenth of a second, so a
stretch inside a phase (its full swing, known only once the phase is over) can be accounted
afterwards: how many CPUs were busy, and the CPU spent per job there.
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime

import psutil


@dataclass(frozen=True)
class Cpu:
    """CPU seconds per role (see the module's docstring)."""

    workers: float = 0.0
    portal: float = 0.0
    simulator: float = 0.0
    machine: float = 0.0

    def __sub__(self, other: Cpu) -> Cpu:
        return Cpu(**{f.name: getattr(self, f.name) - getattr(other, f.name) for f in fields(self)})

    def per(self, jobs: int) -> Cpu:
        """Milliseconds per job."""
        return Cpu(**{f.name: getattr(self, f.name) * 1000 / jobs for f in fields(self)})

    @staticmethod
    def median(phases: Sequence[Cpu]) -> Cpu:
        """Each role's median over several phases."""
        return Cpu(
            **{f.name: statistics.median(getattr(p, f.name) for p in phases) for f in fields(Cpu)}
        )


#: the kinds of CPU time that count as busy (idle, I/O wait and the hypervisor's steal do not;
#: guest time is already part of user time)
_BUSY = ("user", "nice", "system", "irq", "softirq")


def _seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def snapshot(simulator_pid: int | None = None, portal_pids: Sequence[int] = ()) -> Cpu:
    """The CPU seconds spent so far by each role; ``portal_pids``: the processes serving the
    portal, when not this one."""
    simulator = _process_seconds(simulator_pid) if simulator_pid is not None else 0.0
    if portal_pids:
        portal = sum(_process_seconds(pid) for pid in portal_pids)
    else:
        portal = _seconds(resource.getrusage(resource.RUSAGE_SELF))
    return Cpu(
        workers=_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)),
        portal=portal,
        simulator=simulator,
        machine=_busy_seconds(),
    )


def _process_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return sum(getattr(times, name, 0.0) for name in _BUSY)


def epoch(moment: datetime) -> float:
    """Seconds since the epoch; a naive datetime is taken as UTC (as SQLite returns them)."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


class BusySampler:
    """The machine's busy CPU seconds, sampled every ``interval`` seconds by a thread
    (a context manager: sampling runs inside the ``with`` block)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.samples: list[tuple[float, float]] = []  # (time.time(), busy CPU seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="busy-sampler", daemon=True)

    def __enter__(self) -> BusySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), _busy_seconds()))
            if self._stop.wait(self.interval):
                return

    def between(self, start: datetime, end: datetime) -> tuple[float, float]:
        """(busy CPU seconds, wall seconds) from the first to the last sample taken between
        ``start`` and ``end``; (0.0, 0.0) when fewer than two samples fall there."""
        first, last = epoch(start), epoch(end)
        inside = [s for s in self.samples if first <= s[0] <= last]
        if len(inside) < 2:
            return 0.0, 0.0
        return inside[-1][1] - inside[0][1], inside[-1][0] - inside[0][0]
