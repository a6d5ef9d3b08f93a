"""The crash test at bench size: 200 trials of SIGKILLed workers (the suite runs 20)."""

from __future__ import annotations

import os
import subprocess
import sys


def main() -> int:
    """Run tests/test_crash.py with CRASH_TRIALS=200 (override with the variable)."""
    env = dict(os.environ)
    env.setdefault("CRASH_TRIALS", "200")
    return subprocess.call(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-s",
            "-p",
            "no:cacheprovider",
            "tests/test_crash.py",
        ],
        env=env,
    )


if __name__ == "__main__":
    sys.exit(main())
