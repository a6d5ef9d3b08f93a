"""The settlement bench's CPU layouts: which part runs where, and pinning real processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bench.layout import Layout, applied, pin, plan


def test_layouts_on_two_cpus():
    assert plan("shared", [0, 1]) == Layout("shared")
    gateway = plan("gateway", [1, 0])
    assert (gateway.workers, gateway.gateway, gateway.rest) == ({0}, {1}, {0})
    workers = plan("workers", [0, 1])
    assert (workers.workers, workers.gateway, workers.rest) == ({0}, {1}, {1})


def test_workers_get_half_of_more_cpus_and_the_gateway_one():
    workers = plan("workers", [0, 1, 2, 3])
    assert (workers.workers, workers.rest) == ({0, 1}, {2, 3})
    gateway = plan("gateway", [0, 1, 2, 3])
    assert (gateway.gateway, gateway.rest) == ({3}, {0, 1, 2})


def test_a_pinned_layout_needs_two_cpus_and_a_known_name():
    assert plan("shared", [0]) == Layout("shared")
    with pytest.raises(ValueError, match="needs two CPUs"):
        plan("workers", [0])
    with pytest.raises(ValueError, match="unknown layout"):
        plan("nowhere", [0, 1])


AFFINITY_OF_EVERY_THREAD = (
    "import os, sys, threading, time\n"
    "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
    "print('ready', flush=True); sys.stdin.readline()\n"
    "print(sorted({tuple(sorted(os.sched_getaffinity(int(t))))"
    " for t in os.listdir(f'/proc/{os.getpid()}/task')}), flush=True)\n"
)


def test_pin_pins_every_thread_of_a_running_process():
    cpu = min(os.sched_getaffinity(0))
    child = subprocess.Popen(
        [sys.executable, "-c", AFFINITY_OF_EVERY_THREAD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        pin(child.pid, frozenset({cpu}))
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == str([(cpu,)])  # both threads, one CPU
    finally:
        child.kill()
        child.wait(10)


def test_applied_layout_is_inherited_by_what_the_bench_starts_and_undone_after():
    before = os.sched_getaffinity(0)
    cpu = max(before)
    with applied(Layout("test", rest=frozenset({cpu}))):
        started = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True,
            text=True,
            check=True,
        )
    assert started.stdout.strip() == str([cpu])
    assert os.sched_getaffinity(0) == before
    with applied(Layout("shared")):  # nothing pinned: nothing changes
        assert os.sched_getaffinity(0) == before
