"""What an INSERT or UPDATE run through the session did: rows matched, the new row's id.

``Session.execute`` is typed as returning a plain ``Result``; for these statements it is a
``CursorResult``, which carries the count and the inserted key. These two say so once.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy.engine import CursorResult, Result


def rows_matched(result: Result[Any]) -> int:
    """How many rows an UPDATE (or DELETE) matched: 0 when a compare-and-set lost."""
    return cast("CursorResult[Any]", result).rowcount


def inserted_id(result: Result[Any]) -> Any:
    """The primary key of the row a single-row INSERT wrote."""
    key = cast("CursorResult[Any]", result).inserted_primary_key
    assert key is not None  # None only for executemany or a statement that is not an INSERT
    return key[0]
