"""Checking a pooled database-server connection before use, when it has sat idle.

A connection held in the pool can be dead when it is taken (the server restarted, a proxy
or firewall closed it while idle). SQLAlchemy's ``pool_pre_ping`` checks every connection
at every checkout: one extra round trip on every request, which on a busy worker is a fifth
of a page's conversation with the database. Here a connection is checked only when it has
been idle in the pool for ``IDLE_SECONDS`` or more, the way SQLAlchemy's documentation shows
for custom pessimistic checks ("Disconnect Handling"): the check runs in the pool's
``checkout`` event, and a failure raises ``DisconnectionError``, on which the pool discards
the connection and connects afresh, so the request never sees the dead one. A connection in
steady use was used a moment ago, and a server restart is seen by the next idle check or, at
worst, by one statement of one request per worker.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

#: a connection idle in the pool this long is checked before it is handed out
IDLE_SECONDS = 2.0
_RETURNED = "portal_returned_at"  # on the pool record's ``info``: when it came back


def install(engine: Engine, idle_seconds: float = IDLE_SECONDS) -> None:
    """Check ``engine``'s pooled connections that sat idle ``idle_seconds`` or more."""

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get(_RETURNED)
        if returned is None or time.monotonic() - returned < idle_seconds:
            return  # a new connection, or one in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as error:
            raise exc.DisconnectionError(f"idle connection failed its check: {error}") from error
