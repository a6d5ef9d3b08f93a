"""Match one channel's bill for one Beijing day and record what differs, once.

The bill's rows are streamed into the matching's transaction (``staged``), never held
whole: a bill that fails part-way (``BillRefused`` from the channel, a row for another day)
rolls back and leaves the day as it was, with the failure noted. Running the same day again
updates the run and the differences it finds (no second copy of any); an open difference no
longer found is resolved as gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select, update

from portal.domain import ledger as ledger_rules
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.reconciliation import (
    DayBasis,
    DifferenceKind,
    DifferenceState,
    Finding,
    ResolvedHow,
    RunStatus,
    bill_finding,
    day_bounds,
    missing_finding,
)
from portal.extensions import db
from portal.models import LedgerTransaction, Payout, Posting, ReconDifference, ReconRun
from portal.plugins.channels import BillRow
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.dml import rows_matched
from portal.services.messaging import notices
from portal.services.policy_text import N_
from portal.services.reconciliation import staged
from portal.services.refunds.transitions import move_difference, record, record_many
from portal.services.unit_of_work import commit

log = logging.getLogger(__name__)
#: what staff are told when a run finds new differences, and when a bill is overdue
NEW_DIFFERENCES = N_("Reconciliation found %(n)s new differences on the bill of %(day)s.")
BILL_OVERDUE = N_("The bill of %(day)s could not be reconciled in time; see Reconciliation.")


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a channel's day came to."""

    run_id: int
    status: RunStatus
    new_differences: tuple[int, ...] = ()
    open_differences: int = 0


def ledger_out(channel_id: str, day: date, basis: DayBasis = DayBasis.SETTLED) -> int:
    """What the ledger booked out through the channel's account for the Beijing ``day``:
    on that day, or (``DayBasis.SENT``) for the payouts sent in a batch due that day."""
    start, end = day_bounds(day)
    query = (
        select(func.coalesce(func.sum(Posting.amount_fen), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.txn_id)
        .where(
            Posting.account == ledger_rules.external(channel_id),
            LedgerTransaction.kind == LedgerKind.PAYOUT,
        )
    )
    if basis == DayBasis.SENT:
        query = query.join(Payout, Payout.id == LedgerTransaction.payout_id).where(
            Payout.channel == channel_id, Payout.exported_at >= start, Payout.exported_at < end
        )
    else:
        query = query.where(
            LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end
        )
    return int(db.session.scalar(query) or 0)


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
    channel_id: str,
    day: date,
    rows: Iterable[BillRow],
    actor: Actor = SYSTEM,
    basis: DayBasis = DayBasis.SETTLED,
) -> Outcome:
    """Match the bill's ``rows`` for the Beijing ``day`` against our payouts of that day
    (``basis``: settled that day, or sent in a batch due that day) and record every difference.

    The rows are streamed into the database as they are read (``staged``), not held. A row
    dated on another day refuses the whole bill (the run notes it; nothing else is written);
    whatever else ``rows`` raises part-way comes out with nothing written. Safe to run twice:
    the second run finds the same differences and adds none.
    """
    try:
        return commit(lambda: _record_match(channel_id, day, rows, actor, basis))
    except staged.BillNotForDay as exc:
        return record_failure(channel_id, day, RunStatus.REFUSED, f"not this day: {exc}", actor)


def _findings(channel_id: str, day: date, basis: DayBasis) -> list[Finding]:
    found = staged.candidates(channel_id, day, basis)
    findings = [f for seen, mine in found.beside if (f := bill_finding(seen, mine, None))]
    others = staged.ours_elsewhere(channel_id, [s.refund_no for s in found.alone], basis)
    for seen in found.alone:
        finding = bill_finding(seen, None, others.get(seen.refund_no))
        if finding is not None:
            findings.append(finding)
    findings.extend(missing_finding(mine) for mine in found.missing)
    return findings


def _record_match(
    channel_id: str, day: date, rows: Iterable[BillRow], actor: Actor, basis: DayBasis
) -> Outcome:
    run = _run(channel_id, day)
    loaded = staged.load(rows)
    staged.check_day(day)
    findings = _findings(channel_id, day, basis)
    staged.drop()
    our_rows, our_total_fen = staged.ours_tally(channel_id, day, basis)
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
    record_many(
        "recon_found",
        actor,
        [
            {
                "payout_id": row.payout_id,
                "data": {"difference_id": row.id, "kind": row.kind, "refund_no": row.refund_no},
            }
            for row in new
        ],
        to=DifferenceState.OPEN,
    )
    run.status = RunStatus.MATCHED
    run.detail = ""
    run.attempts += 1
    run.bill_rows, run.bill_total_fen = loaded.rows, loaded.total_fen
    run.our_rows, run.our_total_fen = our_rows, our_total_fen
    run.ledger_total_fen = ledger_out(channel_id, day, basis)
    run.matched_at = run.updated_at = now
    record(
        "recon_matched",
        actor,
        data={
            "channel": channel_id,
            "day": day.isoformat(),
            "run_id": run.id,
            "bill_rows": loaded.rows,
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
