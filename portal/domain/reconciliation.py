"""Daily reconciliation (对账): a gateway's bill for one Beijing day against our payouts.

The kinds of difference, their two states and the one table of moves, what a run of the
matching came to, and the rule naming the difference one refund number makes (pure: what the
bill showed and what we hold in, a finding out; no database). Which numbers need the rule at
all, the database finds (``portal.services.reconciliation.staged``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.domain import state_table

#: the gateways' day: a bill covers one calendar day in Beijing time
BEIJING = ZoneInfo("Asia/Shanghai")
#: the longest note a person may write when resolving a difference
MAX_NOTE_CHARS = 2000


class DifferenceKind(enum.StrEnum):
    """What a bill and our records disagree about, for one refund number."""

    #: the bill shows money moved for a refund we hold no settled payout for
    UNKNOWN_AT_GATEWAY = "unknown_at_gateway"
    #: we hold a payout as settled that day; the bill does not show it
    MISSING_FROM_BILL = "missing_from_bill"
    #: both show it, with different amounts
    AMOUNT_DIFFERS = "amount_differs"
    #: the bill shows a refund we hold as settled on another (Beijing) day
    DIFFERENT_DAY = "different_day"
    #: the bill shows the same refund number more than once
    DUPLICATE = "duplicate"


class DifferenceState(enum.StrEnum):
    """Whether a difference still needs a person."""

    OPEN = "open"
    RESOLVED = "resolved"  # a person (or a later run that no longer finds it) closed it


class RunStatus(enum.StrEnum):
    """What the last attempt at one channel's day came to."""

    MATCHED = "matched"  # the bill was read and matched; its differences are recorded
    MISSING = "missing"  # the gateway had no bill yet (retried with backoff)
    REFUSED = "refused"  # the bill could not be trusted: nothing recorded as reconciled


class DayBasis(enum.StrEnum):
    """Which of our payouts are a day's, for the bill of that day to be matched against."""

    #: those settled that day (a gateway's bill: its rows are the refunds it made that day)
    SETTLED = "settled"
    #: those sent in a batch due for execution that day (a bank's statement: its bookings
    #: are what settles them, so settling cannot be what the statement is checked against)
    SENT = "sent"


class ResolvedHow(enum.StrEnum):
    """Why a difference was resolved (stored with it)."""

    BY_PERSON = "by_person"  # staff wrote a note
    GONE = "gone"  # a later run of the same day no longer found it


#: from -> the states a difference may go to. The one transitions table.
TRANSITIONS: dict[DifferenceState, frozenset[DifferenceState]] = {
    DifferenceState.OPEN: frozenset({DifferenceState.RESOLVED}),
    DifferenceState.RESOLVED: frozenset(),
}

INITIAL = DifferenceState.OPEN


def check(frm: DifferenceState, to: DifferenceState) -> None:
    """Raise IllegalMove unless a difference may move from ``frm`` to ``to``."""
    state_table.check(TRANSITIONS, frm, to, "difference")


def beijing_day(at: datetime) -> date:
    """The Beijing calendar day an aware moment falls on."""
    return at.astimezone(BEIJING).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC moments a Beijing day starts at (inclusive) and ends at (exclusive)."""
    start = datetime.combine(day, time(0), BEIJING).astimezone(UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Ours:
    """One of our payouts, as the matching reads it."""

    payout_id: int
    refund_no: str
    amount_fen: int
    state: str
    #: when it became the day's (``DayBasis``): settled, or sent in a batch
    settled_at: datetime | None
    #: whether the payout counts as the bill's business on some day: money moved (succeeded,
    #: or returned after booking), or, matched by ``DayBasis.SENT``, sent in a batch
    moved: bool


@dataclass(frozen=True, slots=True)
class Seen:
    """What the bill showed for one refund number: its rows folded together."""

    refund_no: str
    gateway_reference: str
    amount_fen: int  # the first row's amount
    at: datetime  # the first row's time
    count: int = 1
    total_fen: int = 0


@dataclass(frozen=True, slots=True)
class Finding:
    """One difference the matching names."""

    kind: DifferenceKind
    refund_no: str
    payout_id: int | None = None
    bill_amount_fen: int | None = None
    our_amount_fen: int | None = None
    bill_at: datetime | None = None
    our_at: datetime | None = None
    gateway_reference: str = ""
    our_state: str = ""
    bill_count: int = 0


@dataclass(frozen=True, slots=True)
class Tally:
    """A day's totals: the bill's rows and money, and ours."""

    bill_rows: int = 0
    bill_total_fen: int = 0
    our_rows: int = 0
    our_total_fen: int = 0


def bill_finding(seen: Seen, mine: Ours | None, other: Ours | None) -> Finding | None:
    """The difference a refund number on the bill makes, or None when it matches.

    ``mine``: our moved payout with that number settled on the bill's (Beijing) day, if any;
    ``other``: otherwise our payout with that number on the channel, of any state or day.
    The most telling kind first: a duplicate, then a refund we do not hold as moved, another
    day, an amount.
    """
    ref = mine or other
    if seen.count > 1:
        kind = DifferenceKind.DUPLICATE
    elif mine is None and (other is None or not other.moved or other.settled_at is None):
        kind = DifferenceKind.UNKNOWN_AT_GATEWAY
    elif mine is None:
        kind = DifferenceKind.DIFFERENT_DAY
    elif mine.amount_fen != seen.amount_fen:
        kind = DifferenceKind.AMOUNT_DIFFERS
    else:
        return None
    return Finding(
        kind,
        seen.refund_no,
        payout_id=ref.payout_id if ref else None,
        bill_amount_fen=seen.amount_fen,
        our_amount_fen=ref.amount_fen if ref else None,
        bill_at=seen.at,
        our_at=ref.settled_at if ref else None,
        gateway_reference=seen.gateway_reference,
        our_state=ref.state if ref else "",
        bill_count=seen.count,
    )


def missing_finding(mine: Ours) -> Finding:
    """The difference a payout of ours settled on the day makes when the bill lacks it."""
    return Finding(
        DifferenceKind.MISSING_FROM_BILL,
        mine.refund_no,
        payout_id=mine.payout_id,
        our_amount_fen=mine.amount_fen,
        our_at=mine.settled_at,
        our_state=mine.state,
    )
