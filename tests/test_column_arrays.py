"""Rows sent as column arrays (``portal.services.column_arrays``): a value every row shares is
sent once, and only then."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects import postgresql

from portal.extensions import db
from portal.models import Event
from portal.services.column_arrays import unnested
from tests.conftest import PG_URL

EVENTS = Event.__table__
COLUMNS = [EVENTS.c.case_id, EVENTS.c.actor_id, EVENTS.c.kind, EVENTS.c.data, EVENTS.c.created_at]


def _arrays(rows: list[dict]) -> int:
    sql = str(unnested(COLUMNS, rows).compile(dialect=postgresql.dialect()))
    return sql.count("unnest(")


def _row(case_id: int, **values) -> dict:
    return {"case_id": case_id, "actor_id": None, "kind": "k", "data": {}, **values}


def test_values_one_type_and_equal_or_one_object_are_sent_once():
    at, data = datetime(2026, 1, 1, tzinfo=UTC), {"note": 1}
    rows = [_row(n, created_at=at, data=data) for n in range(3)]
    assert _arrays(rows) == 1  # case_id only


def test_equal_values_of_another_type_or_equal_objects_stay_arrays():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [_row(1, actor_id=1, created_at=at), _row(2, actor_id=True, created_at=at)]
    assert _arrays(rows) == 3  # case_id, actor_id (1 is not True), data (two equal dicts)


def test_one_row_is_all_single_values_and_identical_rows_keep_one_array():
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert _arrays([_row(1, created_at=at)]) == 0
    same = _row(1, created_at=at)
    assert _arrays([same, same, same]) == 1


@pytest.mark.skipif(not PG_URL, reason="arrays: PostgreSQL")
def test_the_relation_has_a_row_per_row_given(app):
    at, data = datetime(2026, 1, 1, tzinfo=UTC), {"note": 1}
    same = _row(1, created_at=at, data=data)
    rows = [same, same, _row(2, created_at=at, data=data)]
    got = db.session.execute(unnested(COLUMNS, rows)).all()
    assert [(r.case_id, r.kind, r.data, r.created_at) for r in got] == [
        (1, "k", data, at),
        (1, "k", data, at),
        (2, "k", data, at),
    ]
