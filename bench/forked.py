"""Measuring one call in a freshly forked child, as RQ runs a job in a work-horse it forks:
the child's CPU time and minor page faults (copy-on-write and first touches), alternating
between the variants compared, and their medians."""

from __future__ import annotations

import os
import resource
import statistics
from collections.abc import Callable, Mapping


def _usage() -> tuple[float, int]:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return (u.ru_utime + u.ru_stime) * 1000, u.ru_minflt


def in_child(call: Callable[[], object]) -> tuple[float, int]:
    """CPU milliseconds and minor page faults of ``call()`` in a child forked for it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        cpu0, faults0 = _usage()
        call()
        cpu1, faults1 = _usage()
        os.write(write, f"{cpu1 - cpu0} {faults1 - faults0}".encode())
        os._exit(0)
    os.close(write)
    data = os.read(read, 100)
    os.close(read)
    os.waitpid(pid, 0)
    cpu, faults = data.split()
    return float(cpu), int(faults)


def compare(
    calls: Mapping[str, Callable[[], object]], rounds: int, samples: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Each call ``samples`` times per round in fresh children, the calls alternating round by
    round; (median CPU milliseconds, median page faults) per call's name. The children are
    forked as RQ forks a work-horse: garbage collection as the interpreter has it."""
    taken: dict[str, list[tuple[float, int]]] = {name: [] for name in calls}
    for _ in range(rounds):
        for name, call in calls.items():
            taken[name] += [in_child(call) for _ in range(samples)]
    cpu = {name: statistics.median(c for c, _ in s) for name, s in taken.items()}
    faults = {name: statistics.median(f for _, f in s) for name, s in taken.items()}
    return cpu, faults


def summary(cpu: Mapping[str, float], faults: Mapping[str, float]) -> str:
    """``compare``'s medians as one line: each call's CPU milliseconds and page faults."""
    return "; ".join(
        f"{name} {cpu[name]:.2f} ms CPU, {faults[name]:.0f} page faults" for name in cpu
    )
