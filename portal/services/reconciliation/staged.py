"""A day's bill streamed into a temporary table of the matching's transaction, and the few
refund numbers that need a look found there by the database, against our payouts.

The bill is never held whole in Python: its rows go to the database as they are read (by
COPY on PostgreSQL, in batches of inserts elsewhere), then one join of the bill, folded by
refund number, with our payouts of that day (settled that day, or for a bank sent in a batch
due that day: ``DayBasis``) returns only what does not plainly match
(a number twice, a number missing on either side, an amount that differs). The domain's
rule (``portal.domain.reconciliation``) names each of those; what the join passes over
matches by that same rule. The table lives in the transaction: a bill refused part-way
takes it with the rollback.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import date
from itertools import islice
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    or_,
    select,
    text,
)

from portal.domain import payout_states
from portal.domain.reconciliation import DayBasis, Ours, Seen, day_bounds
from portal.extensions import db
from portal.models import TS, Payout
from portal.plugins.channels import BillRow

#: the bill of the day being matched (outside the models' metadata: no migration makes it)
BILL = Table(
    "recon_bill",
    MetaData(),
    Column("seq", Integer, nullable=False),
    Column("refund_no", String(64), nullable=False),
    Column("gateway_reference", Text, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("at", TS, nullable=False),
    prefixes=["TEMPORARY"],
)  # no ``postgresql_on_commit``: a dialect keyword would load that dialect with every worker;
# ``load`` drops any table left on the connection and ``drop`` ends each run's
#: rows per insert where there is no COPY
BATCH = 2000


class BillNotForDay(Exception):
    """A bill row is dated outside the day asked for (the file is another day's)."""


@dataclass(frozen=True)
class Loaded:
    """What went into the table: how many rows and how much money."""

    rows: int
    total_fen: int


def _checked(rows: Iterable[BillRow]) -> Iterator[tuple[int, str, str, int, Any]]:
    for seq, row in enumerate(rows):
        if not isinstance(row, BillRow):
            raise TypeError(f"a bill row must be a BillRow, not {type(row).__name__}")
        yield seq, row.refund_no, row.gateway_reference, row.amount_fen, row.at


def load(rows: Iterable[BillRow]) -> Loaded:
    """Put the bill's ``rows`` into a fresh ``BILL`` of the current transaction, as they come.

    Whatever the iterable raises (a damaged row, a refused bill) comes out of here, the
    transaction left for the caller to roll back."""
    conn = db.session.connection()
    BILL.drop(conn, checkfirst=True)
    BILL.create(conn)
    count = total = 0
    checked = _checked(rows)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        listed = ", ".join(c.name for c in BILL.columns)
        with raw.cursor() as cur, cur.copy(f"COPY {BILL.name} ({listed}) FROM STDIN") as copy:
            write = copy.write_row
            for values in checked:
                write(values)
                count += 1
                total += values[3]
    else:
        names = [c.name for c in BILL.columns]
        while batch := list(islice(checked, BATCH)):
            conn.execute(BILL.insert(), [dict(zip(names, v, strict=True)) for v in batch])
            count += len(batch)
            total += sum(v[3] for v in batch)
    return Loaded(count, total)


def check_day(day: date) -> None:
    """BillNotForDay (naming the first such row) if a loaded row is dated off the Beijing
    ``day``."""
    start, end = day_bounds(day)
    first, last = db.session.execute(select(func.min(BILL.c.at), func.max(BILL.c.at))).one()
    if first is None or (start <= first and last < end):
        return
    stray = db.session.execute(
        select(BILL.c.refund_no, BILL.c.at)
        .where(or_(BILL.c.at < start, BILL.c.at >= end))
        .order_by(BILL.c.seq)
        .limit(1)
    ).one()
    raise BillNotForDay(f"row {stray.refund_no} is dated {stray.at.isoformat()}")


def _time(basis: DayBasis) -> Any:
    """The column that makes a payout a day's: settled, or sent in a batch."""
    return Payout.exported_at if basis == DayBasis.SENT else Payout.settled_at


def _ours_on_day(channel_id: str, day: date, basis: DayBasis) -> tuple[Any, ...]:
    start, end = day_bounds(day)
    at = _time(basis)
    where = (Payout.channel == channel_id, at >= start, at < end)
    if basis == DayBasis.SENT:  # whatever became of it since, it was sent for that day
        return where
    return (*where, Payout.state.in_(payout_states.MONEY_MOVED))


def ours_tally(channel_id: str, day: date, basis: DayBasis = DayBasis.SETTLED) -> tuple[int, int]:
    """How many of our payouts are the channel's that Beijing day (``basis``), and how much."""
    count, total = db.session.execute(
        select(func.count(Payout.id), func.coalesce(func.sum(Payout.amount_fen), 0)).where(
            *_ours_on_day(channel_id, day, basis)
        )
    ).one()
    return int(count), int(total)


def ours_of(row: Any, basis: DayBasis = DayBasis.SETTLED) -> Ours:
    """Our payout as the matching reads it, from a row with its columns (its time as
    ``our_at``)."""
    if basis == DayBasis.SENT:
        moved = row.our_at is not None
    else:
        moved = row.state in payout_states.MONEY_MOVED
    return Ours(row.id, row.idempotency_key, row.amount_fen, row.state, row.our_at, moved)


@dataclass(frozen=True)
class Candidates:
    """What the join passed on: our payouts of the day the bill lacks, the bill's numbers
    with our payout of the day beside them, and the bill's numbers we hold none of that day."""

    missing: list[Ours]
    beside: list[tuple[Seen, Ours]]
    alone: list[Seen]


def candidates(channel_id: str, day: date, basis: DayBasis = DayBasis.SETTLED) -> Candidates:
    """Every refund number of the loaded bill or of our day that does not plainly match."""
    amount, at, ref = BILL.c.amount_fen, BILL.c.at, BILL.c.gateway_reference
    bill = (
        select(
            BILL.c.refund_no,
            func.count().label("n"),
            func.sum(amount).label("total"),
            func.min(amount).label("amount"),
            func.min(ref).label("ref"),
            func.min(at).label("at"),
        )
        .group_by(BILL.c.refund_no)
        .subquery("b")
    )
    ours = (
        select(
            Payout.id,
            Payout.idempotency_key,
            Payout.amount_fen,
            Payout.state,
            _time(basis).label("our_at"),
        )
        .where(*_ours_on_day(channel_id, day, basis))
        .subquery("p")
    )
    query = (
        select(bill, ours)
        .select_from(bill.join(ours, ours.c.idempotency_key == bill.c.refund_no, full=True))
        .where(
            or_(
                bill.c.refund_no.is_(None),
                ours.c.id.is_(None),
                bill.c.n > 1,
                bill.c.amount != ours.c.amount_fen,
            )
        )
    )
    found = Candidates([], [], [])
    twice: dict[str, Seen] = {}
    for row in db.session.execute(query):
        if row.refund_no is None:
            found.missing.append(ours_of(row, basis))
            continue
        seen = Seen(row.refund_no, row.ref, row.amount, row.at, row.n, row.total)
        if row.n > 1:
            twice[row.refund_no] = seen
        if row.id is None:
            found.alone.append(seen)
        else:
            found.beside.append((seen, ours_of(row, basis)))
    if twice:
        firsts = _first_rows(twice)
        found.beside[:] = [(firsts.get(s.refund_no, s), o) for s, o in found.beside]
        found.alone[:] = [firsts.get(s.refund_no, s) for s in found.alone]
    return found


#: how many refund numbers one look-up asks for
CHUNK = 500


def _first_rows(twice: dict[str, Seen]) -> dict[str, Seen]:
    """The numbers the bill shows more than once, each with its first row's reference,
    amount and time (the fold keeps the first)."""
    firsts: dict[str, Seen] = {}
    numbers = list(twice)
    for at in range(0, len(numbers), CHUNK):
        query = (
            select(BILL.c.refund_no, BILL.c.gateway_reference, BILL.c.amount_fen, BILL.c.at)
            .where(BILL.c.refund_no.in_(numbers[at : at + CHUNK]))
            .order_by(BILL.c.seq)
        )
        for row in db.session.execute(query):
            if row.refund_no not in firsts:
                firsts[row.refund_no] = replace(
                    twice[row.refund_no],
                    gateway_reference=row.gateway_reference,
                    amount_fen=row.amount_fen,
                    at=row.at,
                )
    return firsts


def ours_elsewhere(
    channel_id: str, numbers: list[str], basis: DayBasis = DayBasis.SETTLED
) -> dict[str, Ours]:
    """Our payouts on the channel, of any state or day, with these refund numbers."""
    found: dict[str, Ours] = {}
    columns = (Payout.id, Payout.idempotency_key, Payout.amount_fen, Payout.state)
    for at in range(0, len(numbers), CHUNK):
        query = select(*columns, _time(basis).label("our_at")).where(
            Payout.channel == channel_id, Payout.idempotency_key.in_(numbers[at : at + CHUNK])
        )
        found.update(
            (row.idempotency_key, ours_of(row, basis)) for row in db.session.execute(query)
        )
    return found


def drop() -> None:
    """Drop the table before the transaction ends (a rollback would drop it too)."""
    db.session.execute(text(f"DROP TABLE IF EXISTS {BILL.name}"))
