"""The embedded SQLite database is set up for several processes: WAL, foreign keys, waits."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from portal.extensions import db
from tests.conftest import PG_URL

pytestmark = pytest.mark.skipif(bool(PG_URL), reason="SQLite settings")


def test_every_connection_enforces_foreign_keys_and_waits_and_the_file_is_wal(app):
    db.engine.dispose()
    with db.engine.connect() as first, db.engine.connect() as second:
        for conn in (first, second):
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
