"""Match one channel's bill for one Beijing day and record what differs, once.

The bill's rows are read whole before anything is written: a bill that fails part-way
(``BillRefused`` from the channel, a row for another day) leaves the day as it was, with the
failure noted. Running the same day again updates the run and the differences it finds
(no second copy of any); an open difference no longer found is resolved as gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update

from portal.domain import ledger as ledger_rules
from portal.domain import payout_states
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.reconciliation import (
    DifferenceKind,
    DifferenceState,
    Finding,
    Ours,
    ResolvedHow,
    RunStatus,
    Seen,
    beijing_day,
    day_bounds,
    fold,
    match,
)
from portal.extensions import db
from portal.models import LedgerTransaction, Payout, Posting, ReconDifference, ReconRun
from portal.plugins.channels import BillRow
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.dml import rows_matched
from portal.services.messaging import notices
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_difference, record
from portal.services.unit_of_work import commit

log = logging.getLogger(__name__)
#: what staff are told when a run finds new differences, and when a bill is overdue
NEW_DIFFERENCES = N_("Reconciliation found %(n)s new differences on the bill of %(day)s.")
BILL_OVERDUE = N_("The bill of %(day)s could not be reconciled in time; see Reconciliation.")
#: how many refund numbers one look-up of payouts off the day asks for
CHUNK = 500


class BillNotForDay(Exception):
    """A bill row is dated outside the day asked for (the file is another day's)."""


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a channel's day came to."""

    run_id: int
    status: RunStatus
    new_differences: tuple[int, ...] = ()
    open_differences: int = 0


def _rows_of_day(day: date, rows: Iterable[BillRow]) -> Iterator[tuple[str, str, int, datetime]]:
    for row in rows:
        if not isinstance(row, BillRow):
            raise TypeError(f"a bill row must be a BillRow, not {type(row).__name__}")
        if beijing_day(row.at) != day:
            raise BillNotForDay(f"row {row.refund_no} is dated {row.at.isoformat()}")
        yield row.refund_no, row.gateway_reference, row.amount_fen, row.at


def _ours(payout: Payout) -> Ours:
    return Ours(
        payout.id,
        payout.idempotency_key,
        payout.amount_fen,
        payout.state,
        payout.settled_at,
        payout.state in payout_states.MONEY_MOVED,
    )


def ours_on_day(channel_id: str, day: date) -> dict[str, Ours]:
    """Our payouts on the channel whose money moved, settled on the Beijing ``day``."""
    start, end = day_bounds(day)
    query = select(Payout).where(
        Payout.channel == channel_id,
        Payout.settled_at >= start,
        Payout.settled_at < end,
        Payout.state.in_(payout_states.MONEY_MOVED),
    )
    return {p.idempotency_key: _ours(p) for p in db.session.scalars(query)}


def ledger_out(channel_id: str, day: date) -> int:
    """What the ledger booked out through the channel's account on the Beijing ``day``."""
    start, end = day_bounds(day)
    total = db.session.scalar(
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.txn_id)
        .where(
            Posting.account == ledger_rules.external(channel_id),
            LedgerTransaction.kind == LedgerKind.PAYOUT,
            LedgerTransaction.created_at >= start,
            LedgerTransaction.created_at < end,
        )
    )
    return int(total or 0)


def _ours_elsewhere(channel_id: str, numbers: list[str]) -> dict[str, Ours]:
    found: dict[str, Ours] = {}
    for at in range(0, len(numbers), CHUNK):
        query = select(Payout).where(
            Payout.channel == channel_id, Payout.idempotency_key.in_(numbers[at : at + CHUNK])
        )
        found.update((p.idempotency_key, _ours(p)) for p in db.session.scalars(query))
    return found


def _run(channel_id: str, day: date) -> ReconRun:
    run = db.session.scalar(
        select(ReconRun)
        .where(ReconRun.channel == channel_id, ReconRun.bill_date == day)
        .with_for_update()
    )
    if run is None:
        now = context.now()
        run = ReconRun(
            channel=channel_id,
            bill_date=day,
            status=RunStatus.MISSING,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        db.session.add(run)
        db.session.flush()
    return run


def record_failure(
    channel_id: str, day: date, status: RunStatus, detail: str, actor: Actor = SYSTEM
) -> Outcome:
    """Note that the day's bill was missing or refused; differences found before stay."""

    def work() -> Outcome:
        run = _run(channel_id, day)
        run.status = status
        run.detail = detail[:2000]
        run.attempts += 1
        run.updated_at = context.now()
        record(
            f"recon_{status}",
            actor,
            data={"channel": channel_id, "day": day.isoformat(), "run_id": run.id},
        )
        return Outcome(run.id, status)

    return commit(work)


def reconcile(
    channel_id: str, day: date, rows: Iterable[BillRow], actor: Actor = SYSTEM
) -> Outcome:
    """Match the bill's ``rows`` for the Beijing ``day`` and record every difference.

    A row dated on another day refuses the whole bill (the run notes it; nothing else is
    written). Safe to run twice: the second run finds the same differences and adds none.
    """
    try:
        bill = fold(_rows_of_day(day, rows))
    except BillNotForDay as exc:
        return record_failure(channel_id, day, RunStatus.REFUSED, f"not this day: {exc}", actor)
    return commit(lambda: _record_match(channel_id, day, bill, actor))


def _record_match(channel_id: str, day: date, bill: dict[str, Seen], actor: Actor) -> Outcome:
    run = _run(channel_id, day)
    mine = ours_on_day(channel_id, day)
    others = _ours_elsewhere(channel_id, [n for n in bill if n not in mine])
    findings, tally = match(bill, mine, others)
    now = context.now()
    existing = {
        (d.kind, d.refund_no): d
        for d in db.session.scalars(select(ReconDifference).where(ReconDifference.run_id == run.id))
    }
    new: list[ReconDifference] = []
    current: set[tuple[str, str]] = set()
    for finding in findings:
        key = (str(finding.kind), finding.refund_no)
        current.add(key)
        row = existing.get(key)
        if row is None:
            row = ReconDifference(run_id=run.id, state=DifferenceState.OPEN, found_at=now)
            db.session.add(row)
            new.append(row)
        _fill(row, finding)
    for key, row in existing.items():
        if key not in current and row.state == DifferenceState.OPEN:
            move_difference(
                row.id,
                DifferenceState.RESOLVED,
                actor,
                payout_id=row.payout_id,
                data={"how": str(ResolvedHow.GONE)},
                resolved_at=now,
                resolved_how=ResolvedHow.GONE,
                resolved_by=actor.label,
            )
    db.session.flush()
    for row in new:
        record(
            "recon_found",
            actor,
            payout_id=row.payout_id,
            to=DifferenceState.OPEN,
            data={"difference_id": row.id, "kind": row.kind, "refund_no": row.refund_no},
        )
    run.status = RunStatus.MATCHED
    run.detail = ""
    run.attempts += 1
    run.bill_rows, run.bill_total_fen = tally.bill_rows, tally.bill_total_fen
    run.our_rows, run.our_total_fen = tally.our_rows, tally.our_total_fen
    run.ledger_total_fen = ledger_out(channel_id, day)
    run.matched_at = run.updated_at = now
    record(
        "recon_matched",
        actor,
        data={
            "channel": channel_id,
            "day": day.isoformat(),
            "run_id": run.id,
            "bill_rows": tally.bill_rows,
            "new_differences": len(new),
        },
    )
    if new:
        notices.add(
            None,
            notices.STAFF,
            "recon_differences",
            NEW_DIFFERENCES,
            n=str(len(new)),
            day=day.isoformat(),
        )
    still_open = sum(1 for d in [*existing.values(), *new] if d.state == DifferenceState.OPEN)
    return Outcome(run.id, RunStatus.MATCHED, tuple(d.id for d in new), still_open)


def _fill(row: ReconDifference, finding: Finding) -> None:
    row.kind = DifferenceKind(finding.kind)
    row.refund_no = finding.refund_no
    row.payout_id = finding.payout_id
    row.gateway_reference = finding.gateway_reference[:128]
    row.bill_amount_fen = finding.bill_amount_fen
    row.our_amount_fen = finding.our_amount_fen
    row.bill_at = finding.bill_at
    row.our_at = finding.our_at
    row.our_state = finding.our_state
    row.bill_count = finding.bill_count


def raise_overdue(run_id: int, actor: Actor = SYSTEM) -> bool:
    """Tell staff, once, that a day's bill is still missing or refused past its deadline;
    False when it was raised already or the day has been matched since."""

    def work() -> bool:
        table = ReconRun.__table__
        changed = rows_matched(
            db.session.execute(
                update(table)
                .where(
                    table.c.id == run_id,
                    table.c.raised_at.is_(None),
                    table.c.status != RunStatus.MATCHED,
                )
                .values(raised_at=context.now())
            )
        )
        if changed != 1:
            return False
        run = db.session.get_one(ReconRun, run_id)
        db.session.refresh(run)
        record(
            "recon_overdue",
            actor,
            data={"channel": run.channel, "day": run.bill_date.isoformat(), "run_id": run.id},
        )
        notices.add(
            None, notices.STAFF, "recon_overdue", BILL_OVERDUE, day=run.bill_date.isoformat()
        )
        return True

    return commit(work)
