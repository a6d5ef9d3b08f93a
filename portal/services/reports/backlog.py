"""The open backlog by age since filing, for the dashboards: counted once a minute per shop,
product and payment route, and for the platform (one set-based statement grouping the open
cases by the product and route each case copied from its order, kept in
``backlog_snapshots``), so a dashboard sums the few rows its filters match
however many cases are open. Before the first count, a dashboard counts for itself."""

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
    or_,
    select,
)

from portal.extensions import db
from portal.models import RefundCase, backlog_snapshots
from portal.services import context
from portal.services.unit_of_work import commit

#: the age groups' upper edges, in days (the last group has none)
EDGES_DAYS = (1, 3, 7, 30)
AGES = [f"age_{i}" for i in range(len(EDGES_DAYS) + 1)]
#: the snapshot row of the whole platform (its total, and the mark that a count was taken)
PLATFORM = 0
#: what a snapshot row is counted under
KEYS = ("merchant_id", "product_id", "channel")


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
    """Count the open cases by age again, per shop, product and payment route (one statement
    grouping the open cases, each carrying its order's product and route), then the platform's
    total row from those rows; returns the rows written. Commits."""
    now = context.now()
    keys = (RefundCase.merchant_id, RefundCase.product_id, RefundCase.channel)
    per_key = select(*keys, *_counts(now)).where(_open()).group_by(*keys).subquery()
    taken = literal(now, backlog_snapshots.c.taken_at.type)
    s = backlog_snapshots
    platform = select(
        literal_column(str(PLATFORM)),
        literal_column(str(PLATFORM)),
        literal(""),
        taken,
        *(func.coalesce(func.sum(s.c[a]), 0) for a in AGES),
    ).where(s.c.merchant_id != PLATFORM)
    columns = [*KEYS, "taken_at", *AGES]

    def work() -> int:
        db.session.execute(delete(backlog_snapshots))
        result = db.session.execute(
            insert(backlog_snapshots)
            .from_select(columns, select(*list(per_key.c)[:3], taken, *list(per_key.c)[3:]))
            .execution_options(preserve_rowcount=True)
        )
        db.session.execute(insert(backlog_snapshots).from_select(columns, platform))
        return int(result.rowcount or 0) + 1  # type: ignore[attr-defined]

    return commit(work)


def _matching(shop_id: int | None, product_id: int | None, channel: str) -> list[Any]:
    """What the filters keep, as conditions on the cases."""
    out = []
    if shop_id is not None:
        out.append(RefundCase.merchant_id == shop_id)
    if product_id is not None:
        out.append(RefundCase.product_id == product_id)
    if channel:
        out.append(RefundCase.channel == channel)
    return out


def live(shop_id: int | None, product_id: int | None = None, channel: str = "") -> Backlog:
    """Counted now (one statement over the open cases)."""
    q = select(*_counts(context.now())).where(_open(), *_matching(shop_id, product_id, channel))
    row = db.session.execute(q).one()
    return Backlog(_groups(int(v or 0) for v in row), None)


def _groups(counts: Any) -> list[tuple[int, int]]:
    return list(zip([*EDGES_DAYS, -1], counts, strict=True))


def of(shop_id: int | None, product_id: int | None = None, channel: str = "") -> Backlog:
    """The last minute's count for ``shop_id`` (None: the platform), ``product_id`` (None: all)
    and ``channel`` ("": all): the sum of the snapshot's rows that match, in one statement
    that also reads the platform's row (whether a count was taken). A shop, product or route
    missing from a count has no open case. Before any count, counted now."""
    s = backlog_snapshots
    marker = s.c.merchant_id == PLATFORM
    kept = [s.c.merchant_id != PLATFORM]
    if shop_id is not None:
        kept.append(s.c.merchant_id == shop_id)
    if product_id is not None:
        kept.append(s.c.product_id == product_id)
    if channel:
        kept.append(s.c.channel == channel)
    matching = and_(*kept)
    row = db.session.execute(
        select(
            func.max(case((marker, s.c.taken_at))),
            *(func.coalesce(func.sum(case((matching, s.c[a]), else_=0)), 0) for a in AGES),
        ).where(or_(marker, matching))
    ).one()
    taken_at, *counts = row
    if taken_at is None:
        return live(shop_id, product_id, channel)
    return Backlog(_groups(int(v or 0) for v in counts), taken_at)
