"""The open backlog by age since filing, for the dashboards: counted once a minute per shop and
for the platform (one set-based statement over the open cases' partial index, kept in
``backlog_snapshots``), so a dashboard reads one row however many cases are open. Before the
first count, a dashboard counts for itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    select,
    union_all,
)

from portal.extensions import db
from portal.models import BacklogSnapshot, RefundCase
from portal.services import context
from portal.services.unit_of_work import commit

#: the age groups' upper edges, in days (the last group has none)
EDGES_DAYS = (1, 3, 7, 30)
AGES = [f"age_{i}" for i in range(len(EDGES_DAYS) + 1)]
#: the snapshot row of the whole platform
PLATFORM = 0


@dataclass(frozen=True)
class Backlog:
    """Open cases per age group ((edge in days, -1 for the oldest), count) and when counted."""

    groups: list[tuple[int, int]]
    taken_at: datetime | None  # None: counted for this page

    @property
    def total(self) -> int:
        return sum(n for _, n in self.groups)


def _counts(now: datetime) -> list[Any]:
    """One summed column per age group, over refund_cases."""
    c = RefundCase.created_at
    columns = []
    newer = None
    for days in EDGES_DAYS:
        edge = now - timedelta(days=days)
        cond = c >= edge if newer is None else and_(c >= edge, c < newer)
        columns.append(func.coalesce(func.sum(case((cond, 1), else_=0)), 0))
        newer = edge
    columns.append(func.coalesce(func.sum(case((c < newer, 1), else_=0)), 0))
    return columns


def _open() -> ColumnElement[bool]:
    return RefundCase.open_order_id.is_not(None)


def refresh() -> int:
    """Count the open cases by age again, per shop and for the platform; returns the rows
    written. Commits."""
    now = context.now()
    per_shop = (
        select(RefundCase.merchant_id, *_counts(now))
        .where(_open())
        .group_by(RefundCase.merchant_id)
    )
    platform = select(literal_column(str(PLATFORM)), *_counts(now)).where(_open())
    rows = union_all(per_shop, platform).subquery()
    taken = literal(now, BacklogSnapshot.__table__.c.taken_at.type)

    def work() -> int:
        db.session.execute(delete(BacklogSnapshot))
        result = db.session.execute(
            insert(BacklogSnapshot)
            .from_select(
                ["merchant_id", "taken_at", *AGES],
                select(rows.c[0], taken, *list(rows.c)[1:]),
            )
            .execution_options(preserve_rowcount=True)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    return commit(work)


def live(shop_id: int | None) -> Backlog:
    """Counted now (one statement over the open cases)."""
    where = [_open()]
    if shop_id is not None:
        where.append(RefundCase.merchant_id == shop_id)
    row = db.session.execute(select(*_counts(context.now())).where(*where)).one()
    return Backlog(_groups(int(v or 0) for v in row), None)


def _groups(counts: Any) -> list[tuple[int, int]]:
    return list(zip([*EDGES_DAYS, -1], counts, strict=True))


def of(shop_id: int | None) -> Backlog:
    """The last minute's count for ``shop_id`` (None: the platform); a shop missing from a
    count has no open case. Before any count, counted now."""
    wanted = {PLATFORM, shop_id if shop_id is not None else PLATFORM}
    rows = {
        r.merchant_id: r
        for r in db.session.scalars(
            select(BacklogSnapshot).where(BacklogSnapshot.merchant_id.in_(wanted))
        )
    }
    platform = rows.get(PLATFORM)
    if platform is None:
        return live(shop_id)
    row = rows.get(shop_id if shop_id is not None else PLATFORM)
    counts = [getattr(row, a) for a in AGES] if row is not None else [0] * len(AGES)
    return Backlog(_groups(counts), platform.taken_at)
