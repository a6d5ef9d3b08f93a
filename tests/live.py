"""A live stack for end-to-end tests: the portal over real HTTP, gateway simulators,
and real ``rq worker`` processes sharing the test's database and Redis."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from flask import Flask
from werkzeug.serving import make_server

T = TypeVar("T")


@contextmanager
def serve(app: Flask) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields its base URL."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def worker_env(app: Flask, extra: dict[str, str]) -> dict[str, str]:
    """Environment for a worker process that talks to the same database, Redis and gateways."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        {
            "PORTAL_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
            "PORTAL_REDIS_URL": app.config["REDIS_URL"],
            "PORTAL_SECRET_KEY": "test-secret",
            "PORTAL_ENVIRONMENT": "development",
            "PORTAL_PUBLIC_BASE_URL": app.config["PUBLIC_BASE_URL"],
            "PORTAL_AUDIT_SEAL_KEY": app.config["AUDIT_SEAL_KEY"] or "",
        }
    )
    env.update(extra)
    return env


def start_worker(
    env: dict[str, str],
    burst: bool = True,
    log: str | None = None,
    fork: bool | None = None,
    max_jobs: int | None = None,
) -> subprocess.Popen:
    """A real ``refund-portal worker`` in its own process group: ``--fork`` (True),
    ``--no-fork`` (False) or the worker's default mode (None)."""
    args = [sys.executable, "-m", "portal.cli", "worker"] + (["--burst"] if burst else [])
    args += [] if fork is None else ["--fork" if fork else "--no-fork"]
    args += [] if max_jobs is None else ["--max-jobs", str(max_jobs)]
    out = open(log, "ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        args,
        env=env,
        stdout=out,
        stderr=out,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker and its work-horse child together."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def worker_pid() -> int:
    """A job that answers which process ran it (a work-horse's, or the worker's own)."""
    return os.getpid()


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns something truthy, and return that; fail with
    ``what`` once ``timeout`` seconds have passed (a deadline, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(interval)
