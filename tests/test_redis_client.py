"""Redis clients announce redis-py's version to the server without reading package metadata
for every new connection (a forked work-horse opens one per job)."""

from __future__ import annotations

import redis
import redis.utils

from portal.infra.redis_client import redis_client


def _url(app) -> str:
    from portal.infra.embedded import start_embedded_redis

    return app.config.get("REDIS_URL") or start_embedded_redis(app.instance_path)


def test_a_new_connection_announces_the_version_without_looking_it_up(app, monkeypatch):
    lookups: list[int] = []
    monkeypatch.setattr(redis.utils, "get_lib_version", lambda: lookups.append(1) or "0.0.0")
    url = _url(app)

    client = redis_client(url)
    for _ in range(3):  # three fresh connections, as three work-horses would open
        client.connection_pool.disconnect()
        assert client.ping()
    assert lookups == []
    # what CLIENT SETINFO sends (servers before Redis 7.2 ignore it, so ask the connection)
    connection = client.connection_pool.get_connection()
    try:
        info = getattr(connection, "driver_info", None)
        announced = info.lib_version if info is not None else connection.lib_version
    finally:
        client.connection_pool.release(connection)
    assert announced == redis.__version__
    client.close()
    # (later redis-py releases, 8.2 for one, look it up for every connection by default; the
    # releases pyproject.toml allows read it once, at import: the client above never reads it)


def test_the_portals_connections_are_such_clients(app, monkeypatch):
    from portal.infra.queue import redis_connection

    lookups: list[int] = []
    monkeypatch.setattr(redis.utils, "get_lib_version", lambda: lookups.append(1) or "0.0.0")
    conn = redis_connection()
    conn.connection_pool.disconnect()
    assert conn.ping()
    assert lookups == []
