"""A Redis-backed ReplayGuard shared by every web process (notification nonces)."""

from __future__ import annotations

from collections.abc import Callable

from redis import Redis


class RedisReplayGuard:
    """Remembers nonces in Redis with SET NX EX: the first caller wins, replays lose."""

    def __init__(self, connection_factory: Callable[[], Redis]) -> None:
        self._conn = connection_factory

    def first_seen(self, namespace: str, nonce: str, ttl_seconds: int) -> bool:
        """True the first time ``nonce`` is seen in ``namespace`` within the TTL."""
        conn: Redis = self._conn()
        return bool(conn.set(f"portal:nonce:{namespace}:{nonce}", 1, nx=True, ex=ttl_seconds))
