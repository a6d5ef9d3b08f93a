"""CPU seconds spent by each role during a bench phase: where a job's cost goes.

A phase is measured by taking a ``snapshot`` before and after it and subtracting:

- ``workers``: processes this one started and has waited for since (the RQ workers, with
  their work-horses, which each worker waits for);
- ``portal``: this process, whose threads serve the live portal (gateway notifications);
- ``simulator``: the gateway simulator's process, still running;
- ``machine``: every CPU's busy time, whoever spent it (Redis, the database, the kernel).
"""

from __future__ import annotations

import resource
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, fields

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


def snapshot(simulator_pid: int | None = None) -> Cpu:
    """The CPU seconds spent so far by each role."""
    simulator = 0.0
    if simulator_pid is not None:
        times = psutil.Process(simulator_pid).cpu_times()
        simulator = times.user + times.system
    machine = psutil.cpu_times()
    return Cpu(
        workers=_seconds(resource.getrusage(resource.RUSAGE_CHILDREN)),
        portal=_seconds(resource.getrusage(resource.RUSAGE_SELF)),
        simulator=simulator,
        machine=sum(getattr(machine, name, 0.0) for name in _BUSY),
    )
