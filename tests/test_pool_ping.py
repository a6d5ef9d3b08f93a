"""Pooled server connections are checked before use only after sitting idle: a dead idle
connection is replaced before a request sees it; one in steady use costs no extra round trip."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from portal.infra import pool_ping
from tests.conftest import PG_URL


def _engine(url: str):
    return create_engine(url, poolclass=QueuePool, pool_size=1, max_overflow=0)


def _counting_pings(engine, monkeypatch) -> list[int]:
    pings: list[int] = []
    real = engine.dialect.do_ping

    def do_ping(dbapi_conn):
        pings.append(1)
        return real(dbapi_conn)

    monkeypatch.setattr(engine.dialect, "do_ping", do_ping)
    return pings


def test_a_connection_in_steady_use_is_not_checked_and_an_idle_one_is(tmp_path, monkeypatch):
    url = PG_URL or f"sqlite:///{tmp_path}/ping.sqlite3"
    busy, idle = _engine(url), _engine(url)
    pool_ping.install(busy, idle_seconds=3600)  # never idle that long in this test
    pool_ping.install(idle, idle_seconds=0)  # every return to the pool counts as idle
    busy_pings, idle_pings = _counting_pings(busy, monkeypatch), _counting_pings(idle, monkeypatch)
    try:
        for engine in (busy, idle):
            for _ in range(3):
                with engine.connect() as conn:
                    assert conn.execute(text("SELECT 1")).scalar() == 1
        assert busy_pings == []  # the first checkout is a new connection: nothing to check
        assert idle_pings == [1, 1]  # the second and third checkouts
    finally:
        busy.dispose()
        idle.dispose()


@pytest.mark.skipif(not PG_URL, reason="a server connection to kill: PostgreSQL")
def test_a_dead_idle_connection_is_replaced_before_use():
    def kill(engine) -> None:
        with engine.connect() as conn:  # the pool's one connection: kill it from elsewhere
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        other = create_engine(PG_URL)
        with other.connect() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        other.dispose()

    checked, unchecked = _engine(PG_URL), _engine(PG_URL)
    pool_ping.install(checked, idle_seconds=0)
    pool_ping.install(unchecked, idle_seconds=3600)
    try:
        kill(checked)
        with checked.connect() as conn:  # checked, found dead, replaced: the query works
            assert conn.execute(text("SELECT 1")).scalar() == 1
        kill(unchecked)
        with pytest.raises(OperationalError):  # what an unchecked dead connection does
            with unchecked.connect() as conn:
                conn.execute(text("SELECT 1"))
    finally:
        checked.dispose()
        unchecked.dispose()
