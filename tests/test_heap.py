"""A worker does not keep Argon2's working memory after checking passwords."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from portal.infra.heap import release_free_heap

SCRIPT = textwrap.dedent(
    """
    from argon2 import PasswordHasher
    from portal.services.accounts import passwords
    from portal.services import context

    settings = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_COST": 19456}
    context.setting = settings.__getitem__  # the portal's production defaults, no app needed

    def rss_mib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

    stored = PasswordHasher(time_cost=2, memory_cost=19456).hash("right")
    before = rss_mib()
    for attempt in range(4):
        assert passwords.check_password(stored, "right")
        assert not passwords.check_password(stored, "wrong")
    print(rss_mib() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_password_checks_leave_the_workers_memory_where_it_was() -> None:
    if not release_free_heap():
        pytest.skip("the C library has no malloc_trim (not glibc): nothing to give back")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=True
    )
    grown = float(out.stdout.strip())
    # Argon2's working memory is 19 MiB: kept, the process would have grown by about that much
    assert grown < 4, f"the process kept {grown:.1f} MiB after 8 password checks"


PIN_SCRIPT = textwrap.dedent(
    """
    import sys
    from portal.infra import heap

    def rss_mib():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

    if sys.argv[1] == "pin":
        assert heap.pin_mmap_threshold()
    block = b"x" * (16 * 2**20)  # a large block, mapped and unmapped: glibc raises its bar
    del block
    before = rss_mib()
    blocks = [b"x" * 2**20 for _ in range(8)]  # written, below the raised bar
    del blocks
    print(rss_mib() - before)
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_pinned_mmap_threshold_gives_freed_large_blocks_back() -> None:
    def kept(mode: str) -> float:
        out = subprocess.run(
            [sys.executable, "-c", PIN_SCRIPT, mode],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return float(out.stdout.strip())

    # unpinned, glibc raised its threshold after the large block: the 8 MiB of 1 MiB blocks
    # came from the heap and stay resident once freed; pinned, each was its own mapping
    assert kept("free") > 6
    assert kept("pin") < 2
