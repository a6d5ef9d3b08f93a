"""A Redis-backed SharedStore: values every portal process sees (a channel's downloaded keys).

A store that does not answer reads as empty, writes nothing and grants claims: the channel
keeps working from what it holds in memory and limits itself per process (see
``portal.plugins.channels.SharedStore``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from redis import Redis
from redis.exceptions import RedisError

PREFIX = "portal:channel:"
log = logging.getLogger(__name__)


class RedisSharedStore:
    """Keys under ``portal:channel:``; SET NX EX for claims."""

    def __init__(self, connection_factory: Callable[[], Redis]) -> None:
        self._conn = connection_factory

    def get(self, key: str) -> bytes | None:
        """The value, or None (also when Redis does not answer)."""
        try:
            value = self._conn().get(PREFIX + key)
        except RedisError as exc:
            log.warning("shared store: cannot read %s: %s", key, exc)
            return None
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    def put(self, key: str, value: bytes, ttl_seconds: int | None = None) -> None:
        """Store the value (nothing happens when Redis does not answer)."""
        try:
            self._conn().set(PREFIX + key, value, ex=ttl_seconds)
        except RedisError as exc:
            log.warning("shared store: cannot write %s: %s", key, exc)

    def claim(self, key: str, ttl_seconds: int) -> bool:
        """True if this caller took the key (also when Redis does not answer)."""
        try:
            return bool(self._conn().set(PREFIX + key, b"1", nx=True, ex=ttl_seconds))
        except RedisError as exc:
            log.warning("shared store: cannot claim %s: %s", key, exc)
            return True
