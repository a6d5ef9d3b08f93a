"""Many rows in one statement on PostgreSQL: each column sent as one array and unnested.

A statement built from a thousand rows of VALUES is a long query text that the driver parses
for its placeholders on every call, and ``executemany`` sends a statement per row. Sent as one
array per column, a page of rows is a short statement with a few parameters, whatever the
page's size. A column that holds the same value in every row (an event's kind, actor and time
in a sweep's page) is sent once, as one value beside the arrays: the driver writes each element
of a text array through its quoting, which for a thousand rows of a dozen columns was most of
the cost of sending them. (SQLite has no arrays: callers keep their plain statements there.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Column, ColumnElement, Select, any_, cast, func, literal, select
from sqlalchemy.types import TypeEngine

from portal.extensions import db


def unnested(columns: Sequence[Column[Any]], rows: Sequence[Mapping[str, Any]]) -> Select[Any]:
    """``SELECT unnest(:a) AS a, unnest(:b) AS b, :c AS c, ...``: ``rows`` as a relation with
    the given columns' names and types (PostgreSQL unnests arrays of one length side by side;
    a column whose value every row shares is one value, repeated on every row)."""
    from sqlalchemy.dialects.postgresql import ARRAY  # heavy: the dialect, on PostgreSQL only

    first = rows[0] if rows else {}
    same = {c.name for c in columns if rows and _shared(c.name, first, rows)}
    if len(rows) != 1 and len(same) == len(columns):
        same.discard(columns[0].name)  # one array at least gives the rows their number
    return select(
        *(
            cast(literal(first[c.name], c.type), c.type).label(c.name)
            if c.name in same
            else func.unnest(
                cast(literal([row[c.name] for row in rows], ARRAY(c.type)), ARRAY(c.type))
            ).label(c.name)
            for c in columns
        )
    )


#: values equal by ``==`` only if of one type (so ``1`` and ``True`` stay apart)
_SCALARS = (str, int, float, bool, datetime, type(None))


def _shared(name: str, first: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every row holds the same value as the first under ``name``: an equal value of
    the same type, or for anything else (a dict, a list) the very same object."""
    value = first[name]
    kind = type(value)
    if kind in _SCALARS:
        return all(type(row[name]) is kind and row[name] == value for row in rows)
    return all(row[name] is value for row in rows)


def among(column: Any, values: Sequence[Any], element: TypeEngine[Any]) -> ColumnElement[bool]:
    """``column IN values``; on PostgreSQL one array parameter of ``element``s (a page of ids
    is one value to send and to parse, not a placeholder each)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(literal(list(values), ARRAY(element)))
    return column.in_(values)
