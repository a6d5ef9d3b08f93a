"""Many rows into one table on PostgreSQL by ``COPY ... FROM STDIN``, in the session's
transaction.

An INSERT of a thousand rows sends each column as an array (``column_arrays``) that the driver
writes element by element, quoting each string through a regular expression, and that the
server parses and unnests again. ``COPY`` streams the rows as lines the driver formats in C
and the server reads straight into the table, with the same triggers, constraints and
indexes as an INSERT. It returns nothing: a writer that needs the new rows' ids inserts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import JSON, Column, Table

from portal.extensions import db


def copy_rows(
    table: Table, columns: Sequence[Column[Any]], rows: Sequence[Mapping[str, Any]]
) -> int:
    """Write ``rows`` (values by column name) into ``table``'s ``columns``; how many."""
    if not rows:
        return 0
    dumped: dict[int, tuple[Any, str]] = {}  # id(value) -> (value, its JSON), found once

    def as_json(value: Any) -> str:
        found = dumped.get(id(value))
        if found is None or found[0] is not value:
            found = dumped[id(value)] = (value, json.dumps(value, ensure_ascii=False))
        return found[1]

    json_columns = {c.name for c in columns if isinstance(c.type, JSON)}
    names = [c.name for c in columns]
    quoted = ", ".join(f'"{name}"' for name in names)
    raw = db.session.connection().connection.driver_connection
    if raw is None:  # a connection checked out of the pool always has its driver's
        raise RuntimeError("the session's connection has no driver connection")
    with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({quoted}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([as_json(row[n]) if n in json_columns else row[n] for n in names])
    return len(rows)
