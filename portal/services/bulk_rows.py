"""Many rows into one table at once, in the session's transaction.

On PostgreSQL the rows go in by one ``COPY ... FROM STDIN``: the driver formats each value
(in C), with no statement text to build and no arrays to quote, which is what a batch of
thousands of rows spends most of its time on otherwise. Row ids come from the table's own
sequence beforehand (``next_ids``) when the caller needs them. Elsewhere (SQLite) the rows
are one ``executemany``, which SQLAlchemy sends as multi-row VALUES.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Table, func, insert, select

from portal.extensions import db


def on_postgresql() -> bool:
    """Whether the session's database is PostgreSQL (COPY and sequences)."""
    return db.session.get_bind().dialect.name == "postgresql"


def _json_dump() -> Callable[[Any], str | None]:
    """A JSON column's Python value as COPY is given it. A value shared by many rows (a sweep
    page's one ``data``) is dumped once."""
    dumped: dict[int, tuple[Any, str]] = {}  # id(value) -> (value, its JSON)

    def as_json(value: Any) -> str | None:
        if value is None:
            return None
        found = dumped.get(id(value))
        if found is None or found[0] is not value:
            found = dumped[id(value)] = (value, json.dumps(value, ensure_ascii=False))
        return found[1]

    return as_json


def _row_values(names: list[str]) -> Callable[[Mapping[str, Any]], list[Any]]:
    """A row's values in the order of ``names``, a new list (picked by ``itemgetter``, in C)."""
    if len(names) == 1:
        [name] = names
        return lambda row: [row[name]]
    pick = operator.itemgetter(*names)
    return lambda row: list(pick(row))


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (all with the same keys, the table's column names) into ``table``."""
    if not rows:
        return
    names = list(rows[0])
    if not on_postgresql():
        db.session.execute(insert(table), list(rows))
        return
    quote = db.session.get_bind().dialect.identifier_preparer
    columns = ", ".join(quote.quote(name) for name in names)
    values = _row_values(names)  # the driver adapts them, but JSON columns' values: dumped
    dumps = [(i, _json_dump()) for i, n in enumerate(names) if isinstance(table.c[n].type, JSON)]
    dbapi = db.session.connection().connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cursor:
        statement = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"
        with cursor.copy(statement) as copy:
            write = copy.write_row
            for row in rows:
                given = values(row)
                for i, dump in dumps:
                    given[i] = dump(given[i])
                write(given)


def next_ids(table: Table, count: int) -> list[int]:
    """``count`` new ids from the sequence of ``table``'s ``id`` column (PostgreSQL only)."""
    if count <= 0:
        return []
    sequence = func.pg_get_serial_sequence(table.name, "id")
    numbers = select(func.nextval(sequence)).select_from(func.generate_series(1, count).alias("n"))
    return list(db.session.scalars(numbers))
