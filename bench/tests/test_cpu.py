"""The benches' CPU accounting puts a process's CPU time under the right role."""

from __future__ import annotations

import subprocess
import sys
import time

from bench.cpu import snapshot

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def _burner() -> subprocess.Popen:
    """A process that burns 0.3 s of CPU once told to (a line on stdin), then waits."""
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; sys.stdin.readline()\n" + BURN + "\ntime.sleep(30)",
        ],
        stdin=subprocess.PIPE,
    )


def test_a_waited_child_counts_as_workers_and_a_running_one_as_the_simulator():
    # the "simulator" burns 0.3 s once told to (a line on stdin), then waits
    running = _burner()
    try:
        before = snapshot(running.pid)
        running.stdin.write(b"go\n")
        running.stdin.flush()
        subprocess.run([sys.executable, "-c", BURN], check=True)  # a "worker", waited for
        deadline = time.monotonic() + 20
        while (snapshot(running.pid) - before).simulator < 0.25 and time.monotonic() < deadline:
            pass  # this loop spends the "portal"'s CPU meanwhile
        spent = snapshot(running.pid) - before
    finally:
        running.kill()
        running.wait()
    assert 0.25 <= spent.workers < 2.0
    assert 0.25 <= spent.simulator < 2.0
    assert spent.portal > 0.0
    # every process above ran on this machine's CPUs
    assert spent.machine >= spent.workers + spent.simulator - 0.05
    per_job = spent.per(100)
    assert abs(per_job.workers - spent.workers * 10) < 1e-9  # seconds -> ms per job


def test_median_is_taken_per_role():
    from bench.cpu import Cpu

    phases = [Cpu(1, 10, 100, 5), Cpu(3, 30, 300, 1), Cpu(2, 20, 200, 9)]
    assert Cpu.median(phases) == Cpu(2, 20, 200, 5)


def test_a_forked_child_reports_its_own_cpu_and_page_faults():
    from bench.forked import in_child as _in_child

    def burn() -> None:
        end = time.process_time() + 0.05
        while time.process_time() < end:
            pass

    idle_cpu, idle_faults = _in_child(lambda: None)
    busy_cpu, _ = _in_child(burn)
    _, touching_faults = _in_child(lambda: bytearray(8 << 20))  # 8 MiB written: ~2,000 pages
    assert busy_cpu >= 45 > idle_cpu
    assert touching_faults > idle_faults + 1500


def test_named_portal_processes_count_as_the_portal_instead_of_this_one():
    server = _burner()
    try:
        before = snapshot(None, [server.pid])
        server.stdin.write(b"go\n")
        server.stdin.flush()
        deadline = time.monotonic() + 20
        while (snapshot(None, [server.pid]) - before).portal < 0.25:
            assert time.monotonic() < deadline, "the portal process's CPU was never counted"
            time.sleep(0.05)  # this process sleeps: what is counted is the other one's
        spent = snapshot(None, [server.pid]) - before
    finally:
        server.kill()
        server.wait()
    assert 0.25 <= spent.portal < 2.0
    assert spent.simulator == 0.0
