"""Reading a page's rows outside a transaction, on a session of their own.

A page that only reads needs no transaction. Read through the request's session, it costs a
``BEGIN`` and, when the session ends, a ``ROLLBACK``: two round trips beside the page's own
statements. And psycopg forgets the statements it prepared on a connection at every
``ROLLBACK`` (it cannot know what the transaction undid), so a page read that way planned each
of its statements afresh on every request. :func:`reading` gives a session on the same engine
whose connection runs in autocommit: no ``BEGIN``, no ``ROLLBACK``, and a statement a pooled
connection runs often stays prepared there (psycopg prepares it at its sixth run).

Each statement then sees the database as it was when that statement began: rows that must
agree with one another are read in one statement. When the block ends the session closes and
the rows read stay readable, detached: a lazy load then fails loudly instead of querying, as a
page reads what it shows up front. Nothing is written through this session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from portal.extensions import db

_AUTOCOMMIT: WeakKeyDictionary[Engine, Engine] = WeakKeyDictionary()


def _autocommit(engine: Engine) -> Engine:
    """``engine`` with its connections in autocommit (the same pool), made once."""
    found = _AUTOCOMMIT.get(engine)
    if found is None:
        found = _AUTOCOMMIT[engine] = engine.execution_options(isolation_level="AUTOCOMMIT")
    return found


@contextmanager
def connection() -> Iterator[Connection]:
    """A connection that reads outside a transaction (for rows read as plain rows, which need
    no session), back in the pool at the end."""
    with _autocommit(db.engine).connect() as conn:
        yield conn


@contextmanager
def reading(bind: Connection | None = None) -> Iterator[Session]:
    """A session that reads outside a transaction (on ``bind``, a :func:`connection`, if given);
    closed, its rows detached, at the end."""
    session = Session(bind or _autocommit(db.engine), expire_on_commit=False, autoflush=False)
    try:
        yield session
    finally:
        session.close()
