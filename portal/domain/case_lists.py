"""Lists of cases staff work from: their filters, their order (nearest deadline first, then the
cases without one) and the cursor that marks a page's edge in that order, as plain values."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from portal.domain.policy import N_, Reason
from portal.domain.states import State

#: rows on one page of a list
PAGE_SIZE = 50
#: counts stop here ("1000+"): counting further would read every matching row
COUNT_CAP = 1000
#: the longest search text read (case numbers, order numbers and contacts are shorter)
SEARCH_MAX = 120
#: the largest amount a filter takes, in fen (a row's amount is a BIGINT)
AMOUNT_MAX_FEN = 10**10


class Assigned(enum.StrEnum):
    """Whose cases a list shows."""

    ANYONE = ""
    ME = "me"
    NOBODY = "none"


class ListError(ValueError):
    """A filter or cursor that cannot be read; ``message`` is an English msgid."""

    def __init__(self, message: str, **params: str) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


@dataclass(frozen=True)
class Position:
    """A case's place in the list: its deadline (None: after every case with one) and id."""

    deadline_at: datetime | None
    case_id: int


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after ``position`` (the next page) or before it (the previous)."""

    position: Position
    backward: bool = False


@dataclass(frozen=True)
class CaseFilter:
    """What a list is narrowed to. ``shop_id`` is a merchant's id (the merchant's own list
    always sets it to the viewer's shop, whatever the request said)."""

    shop_id: int | None = None
    state: State | None = None
    reason: Reason | None = None
    channel: str = ""
    min_fen: int | None = None
    max_fen: int | None = None
    overdue: bool = False
    appeal: bool = False
    assigned: Assigned = Assigned.ANYONE
    search: str = ""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_KEY = re.compile(r"^(?:d(\d{1,17})|n)\.(\d{1,18})$")
_ID_MAX = 2**63 - 1
BAD_CURSOR = N_("This page link is damaged or out of date. Start again from the first page.")


def encode(position: Position) -> str:
    """The cursor text for ``position``: ``d<microseconds since 1970>.<id>``, or ``n.<id>``
    for a case without a deadline."""
    if position.deadline_at is None:
        return f"n.{position.case_id}"
    delta = position.deadline_at - _EPOCH
    micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
    return f"d{micros}.{position.case_id}"


def decode(text: str) -> Position:
    """The position a cursor text names; ListError for anything else."""
    match = _KEY.match(text or "")
    if match is None:
        raise ListError(BAD_CURSOR)
    micros, case_id = match.group(1), int(match.group(2))
    if case_id > _ID_MAX:
        raise ListError(BAD_CURSOR)
    if micros is None:
        return Position(None, case_id)
    try:
        return Position(_EPOCH + timedelta(microseconds=int(micros)), case_id)
    except OverflowError:
        raise ListError(BAD_CURSOR) from None


#: a case number, or its beginning: what the search reads as one (RF + date + hex digits)
_CASE_NO_PREFIX = re.compile(r"^[A-Za-z0-9]{2,32}$")


def case_no_prefix(search: str) -> str | None:
    """The case-number beginning ``search`` may be (upper case), or None if it cannot be one."""
    return search.upper() if _CASE_NO_PREFIX.match(search) else None


def prefix_upper_bound(prefix: str, width: int = 32) -> str:
    """The largest case number (letters and digits, ``width`` long) that starts with
    ``prefix``: with ``prefix`` itself, the two ends of a range an index serves in any
    collation (letters and digits sort the same way in all of them)."""
    return prefix + "Z" * max(0, width - len(prefix))


def capped(count: int) -> tuple[int, bool]:
    """A count as shown: at most COUNT_CAP, and whether there are more."""
    return min(count, COUNT_CAP), count > COUNT_CAP
