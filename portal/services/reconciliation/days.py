"""Reading reconciliation for the operator page: each channel's days with their summary, and
one day's differences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import case, func, select

from portal.domain.reconciliation import DifferenceState, RunStatus
from portal.extensions import db
from portal.models import ReconDifference, ReconRun
from portal.services.errors import NotFound
from portal.services.policy_text import N_


@dataclass(frozen=True)
class Day:
    """One channel's day: its run and how many differences it holds, open and in all."""

    run: ReconRun
    open: int
    total: int

    @property
    def ledger_agrees(self) -> bool:
        """Whether the ledger booked out through the channel what our payouts say."""
        return self.run.ledger_total_fen == self.run.our_total_fen

    @property
    def closed(self) -> bool:
        """Matched, with no open difference left."""
        return self.run.status == RunStatus.MATCHED and self.open == 0


def days(channel: str = "", limit: int = 90) -> list[Day]:
    """The newest days first (one channel's, or every channel's)."""
    open_ = func.coalesce(
        func.sum(case((ReconDifference.state == DifferenceState.OPEN, 1), else_=0)), 0
    )
    query = (
        select(ReconRun, open_, func.count(ReconDifference.id))
        .outerjoin(ReconDifference, ReconDifference.run_id == ReconRun.id)
        .group_by(ReconRun.id)
        .order_by(ReconRun.bill_date.desc(), ReconRun.channel)
        .limit(limit)
    )
    if channel:
        query = query.where(ReconRun.channel == channel)
    return [Day(run, int(o), int(t)) for run, o, t in db.session.execute(query)]


#: the most differences one page shows (the CSV export has them all)
PAGE_SIZE = 100


def day(run_id: int, limit: int | None = None) -> tuple[Day, list[ReconDifference]]:
    """One day and its differences, open ones first (the first ``limit`` of them)."""
    run = db.session.get(ReconRun, run_id)
    if run is None:
        raise NotFound(N_("There is no such reconciliation day."), rule="recon_day")
    counts = db.session.execute(
        select(
            func.count(ReconDifference.id),
            func.coalesce(
                func.sum(case((ReconDifference.state == DifferenceState.OPEN, 1), else_=0)), 0
            ),
        ).where(ReconDifference.run_id == run_id)
    ).one()
    query = (
        select(ReconDifference)
        .where(ReconDifference.run_id == run_id)
        .order_by(
            case((ReconDifference.state == DifferenceState.OPEN, 0), else_=1),
            ReconDifference.kind,
            ReconDifference.refund_no,
        )
    )
    if limit is not None:
        query = query.limit(limit)
    return Day(run, int(counts[1]), int(counts[0])), list(db.session.scalars(query))


def run_of(difference_id: int) -> int | None:
    """The run a difference belongs to, or None."""
    return db.session.scalar(
        select(ReconDifference.run_id).where(ReconDifference.id == difference_id)
    )


def runs_of_day(day: date) -> dict[str, ReconRun]:
    """Every channel's run of the Beijing ``day``, by channel."""
    return {
        r.channel: r for r in db.session.scalars(select(ReconRun).where(ReconRun.bill_date == day))
    }
