"""Which CPUs each part of the settlement bench runs on: the layouts it compares.

In production the payment gateway runs on its operator's machines, and RQ workers usually
on their own; on one bench machine every process competes for the same CPUs unless it is
pinned. A layout pins processes with ``sched_setaffinity`` (Linux):

- ``shared``: nothing pinned. The workers and their work-horses, the portal, Redis and the
  gateway simulator share every CPU: one small server with the gateway on it too.
- ``gateway``: the gateway simulator alone on the last CPU, everything else on the others:
  one server talking to a gateway somewhere else.
- ``workers``: the RQ workers (and the work-horses they fork) on the first half of the
  CPUs; the portal, Redis, the simulator and the bench itself on the rest: workers on
  machines of their own, as in the README's production layout.

A database server the bench does not start itself (PostgreSQL) is not pinned.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LAYOUTS = ("shared", "gateway", "workers")


@dataclass(frozen=True)
class Layout:
    """The CPUs of each part; ``None``: that part is not pinned (it may run anywhere)."""

    name: str
    workers: frozenset[int] | None = None
    gateway: frozenset[int] | None = None
    rest: frozenset[int] | None = None


def plan(name: str, cpus: Iterable[int]) -> Layout:
    """The layout ``name`` on ``cpus`` (the CPUs this process may use).

    Raises ValueError for an unknown name, or a pinned layout on fewer than two CPUs.
    """
    cpus = sorted(cpus)
    if name == "shared":
        return Layout(name)
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}: one of {', '.join(LAYOUTS)}")
    if len(cpus) < 2:
        raise ValueError(f"layout {name!r} needs two CPUs; this process may use {len(cpus)}")
    if name == "gateway":
        others = frozenset(cpus[:-1])
        return Layout(name, workers=others, gateway=frozenset(cpus[-1:]), rest=others)
    half = len(cpus) // 2
    others = frozenset(cpus[half:])
    return Layout(name, workers=frozenset(cpus[:half]), gateway=others, rest=others)


def pin(pid: int, cpus: frozenset[int] | None) -> None:
    """Pin every thread of process ``pid`` to ``cpus`` (nothing when ``cpus`` is None).

    Threads and processes it starts afterwards inherit the pinning.
    """
    if cpus is None:
        return
    tasks = Path(f"/proc/{pid}/task")
    tids = [int(t.name) for t in tasks.iterdir()] if tasks.is_dir() else [pid]
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except ProcessLookupError:  # a thread that ended meanwhile
            pass


@contextmanager
def applied(layout: Layout) -> Iterator[None]:
    """Pin this process to ``layout.rest`` (so what it starts inherits it); restored after."""
    before = os.sched_getaffinity(0)
    pin(os.getpid(), layout.rest)
    try:
        yield
    finally:
        pin(os.getpid(), frozenset(before))
