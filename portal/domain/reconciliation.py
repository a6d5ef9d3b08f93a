"""Daily reconciliation (对账): a gateway's bill for one Beijing day against our payouts.

The kinds of difference, their two states and the one table of moves, what a run of the
matching came to, and the matching itself (pure: rows in, findings out; no database).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
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
    settled_at: datetime | None
    #: whether the payout counts as money moved (succeeded, or returned after booking)
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


def fold(rows: Iterable[tuple[str, str, int, datetime]]) -> dict[str, Seen]:
    """The bill's rows ``(refund_no, gateway_reference, amount_fen, at)`` by refund number
    (read once, in order; a number seen again counts as a duplicate)."""
    seen: dict[str, Seen] = {}
    for refund_no, reference, amount, at in rows:
        before = seen.get(refund_no)
        if before is None:
            seen[refund_no] = Seen(refund_no, reference, amount, at, 1, amount)
        else:
            seen[refund_no] = Seen(
                refund_no,
                before.gateway_reference,
                before.amount_fen,
                before.at,
                before.count + 1,
                before.total_fen + amount,
            )
    return seen


def match(
    bill: Mapping[str, Seen],
    ours_that_day: Mapping[str, Ours],
    ours_elsewhere: Mapping[str, Ours],
) -> tuple[list[Finding], Tally]:
    """Every difference between a day's bill and our payouts settled that day.

    ``ours_that_day``: our moved payouts settled on the bill's (Beijing) day;
    ``ours_elsewhere``: our payouts, of any state or day, for refund numbers the bill shows
    but ``ours_that_day`` does not hold. One finding per refund number, the most telling
    kind first: a duplicate, then a refund we do not hold as moved, another day, an amount.
    """
    findings: list[Finding] = []
    for refund_no, seen in bill.items():
        mine = ours_that_day.get(refund_no)
        other = None if mine is not None else ours_elsewhere.get(refund_no)
        ref = mine or other
        if seen.count > 1:
            kind: DifferenceKind | None = DifferenceKind.DUPLICATE
        elif mine is None and (other is None or not other.moved or other.settled_at is None):
            kind = DifferenceKind.UNKNOWN_AT_GATEWAY
        elif mine is None:
            kind = DifferenceKind.DIFFERENT_DAY
        elif mine.amount_fen != seen.amount_fen:
            kind = DifferenceKind.AMOUNT_DIFFERS
        else:
            kind = None
        if kind is not None:
            findings.append(
                Finding(
                    kind,
                    refund_no,
                    payout_id=ref.payout_id if ref else None,
                    bill_amount_fen=seen.amount_fen,
                    our_amount_fen=ref.amount_fen if ref else None,
                    bill_at=seen.at,
                    our_at=ref.settled_at if ref else None,
                    gateway_reference=seen.gateway_reference,
                    our_state=ref.state if ref else "",
                    bill_count=seen.count,
                )
            )
    for refund_no, mine in ours_that_day.items():
        if refund_no not in bill:
            findings.append(
                Finding(
                    DifferenceKind.MISSING_FROM_BILL,
                    refund_no,
                    payout_id=mine.payout_id,
                    our_amount_fen=mine.amount_fen,
                    our_at=mine.settled_at,
                    our_state=mine.state,
                )
            )
    tally = Tally(
        bill_rows=sum(s.count for s in bill.values()),
        bill_total_fen=sum(s.total_fen for s in bill.values()),
        our_rows=len(ours_that_day),
        our_total_fen=sum(o.amount_fen for o in ours_that_day.values()),
    )
    return findings, tally
