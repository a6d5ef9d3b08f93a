"""Many rows in one statement on PostgreSQL: each column sent as one array and unnested.

A statement built from a thousand rows of VALUES is a long query text that the driver parses
for its placeholders on every call, and ``executemany`` sends a statement per row. Sent as one
array per column, a page of rows is a short statement with a few parameters, whatever the
page's size. (SQLite has no arrays: callers keep their plain statements there.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Select, cast, func, literal, select


def unnested(columns: Sequence[Column[Any]], rows: Sequence[Mapping[str, Any]]) -> Select[Any]:
    """``SELECT unnest(:a) AS a, unnest(:b) AS b, ...``: ``rows`` as a relation with the given
    columns' names and types (PostgreSQL unnests arrays of one length side by side)."""
    from sqlalchemy.dialects.postgresql import ARRAY  # heavy: the dialect, on PostgreSQL only

    return select(
        *(
            func.unnest(
                cast(literal([row[c.name] for row in rows], ARRAY(c.type)), ARRAY(c.type))
            ).label(c.name)
            for c in columns
        )
    )
