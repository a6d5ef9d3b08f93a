"""Waiting, in a test, until another session is blocked on a PostgreSQL row lock."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

#: sessions of this database, other than the asking one, waiting for a lock
_WAITING = text(
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    " AND datname = current_database() AND pid <> pg_backend_pid()"
)


def until_blocked(engine: Engine, thread: threading.Thread, what: str, seconds: float = 30) -> None:
    """Return once a session waits for a lock (or ``thread`` ended); fail with ``what`` after
    ``seconds``."""
    # autocommit: a transaction sees pg_stat_activity as it was at its first read of it, so a
    # watch inside one transaction would never see the other session start waiting
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
        deadline = time.monotonic() + seconds
        while not watch.execute(_WAITING).scalar() and thread.is_alive():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)
