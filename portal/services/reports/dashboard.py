"""A dashboard's figures for the last weeks, for one shop or the whole platform: cases filed,
refunded and rejected per week, the refund rate, review times, automatic decisions and risk
levels. Five statements, each one pass over the period's cases (no rollups yet)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, select, true

from portal.domain import charts
from portal.domain.states import State
from portal.extensions import db
from portal.models import Event, Merchant, Order, RefundCase
from portal.services import context

#: weeks a dashboard may show
MAX_WEEKS = 26
DEFAULT_WEEKS = 8
#: the review target the share "decided within" is measured against
TARGET = timedelta(days=3)
REFUNDED = (str(State.APPROVED), str(State.REFUNDING), str(State.REFUNDED))
DECISIONS = (str(State.APPROVED), str(State.REJECTED))


@dataclass(frozen=True)
class Week:
    """One week's counts of cases filed in it."""

    start: datetime
    filed: int
    refunded: int
    rejected: int
    automatic: int
    high_risk: int


@dataclass(frozen=True)
class Dashboard:
    """The figures a dashboard page shows."""

    shop_id: int | None
    weeks: list[Week]
    orders: int
    filed: int
    refunded: int
    refund_rate_pct: int | None
    review_p50_minutes: int | None
    review_p90_minutes: int | None
    decided: int
    within_target_pct: int | None
    automatic: dict[str, int]
    levels: dict[str, int]
    chart: charts.Chart


def shops() -> list[tuple[int, str]]:
    """Shops to filter by (id, name), by name."""
    return [
        (r[0], r[1])
        for r in db.session.execute(select(Merchant.id, Merchant.name).order_by(Merchant.name))
    ]


def _shop(column: Any, shop_id: int | None) -> ColumnElement[bool]:
    return column == shop_id if shop_id is not None else true()


def _pct(part: int, whole: int) -> int | None:
    return part * 100 // whole if whole else None


def build(shop_id: int | None, weeks: int = DEFAULT_WEEKS) -> Dashboard:
    """The dashboard of ``shop_id`` (None: the platform) over the last ``weeks`` weeks."""
    weeks = min(max(1, weeks), MAX_WEEKS)
    now = context.now()
    start = now - timedelta(weeks=weeks)
    edges = [start + timedelta(weeks=i) for i in range(weeks + 1)]
    edges[-1] = now + timedelta(seconds=1)
    in_period = and_(RefundCase.created_at >= start, _shop(RefundCase.merchant_id, shop_id))

    def per_week(condition: ColumnElement[bool] | None) -> list[Any]:
        cols = []
        for a, b in pairwise(edges):
            when = and_(RefundCase.created_at >= a, RefundCase.created_at < b)
            if condition is not None:
                when = and_(when, condition)
            cols.append(func.coalesce(func.sum(case((when, 1), else_=0)), 0))
        return cols

    rejected = RefundCase.rejected_by_id.is_not(None)
    series = [
        None,
        RefundCase.state.in_(REFUNDED),
        rejected,
        RefundCase.auto_rule != "",
        RefundCase.risk_level == "high",
    ]
    columns = [c for cond in series for c in per_week(cond)]
    row = [int(v or 0) for v in db.session.execute(select(*columns).where(in_period)).one()]
    counts = [row[i * weeks : (i + 1) * weeks] for i in range(len(series))]
    week_rows = [Week(edges[i], *(counts[s][i] for s in range(len(series)))) for i in range(weeks)]
    filed = sum(counts[0])
    refunded = sum(counts[1])
    orders = int(
        db.session.scalar(
            select(func.count(Order.id)).where(
                Order.paid_at >= start, _shop(Order.merchant_id, shop_id)
            )
        )
        or 0
    )
    minutes = _review_minutes(in_period)
    within = sum(1 for m in minutes if m <= TARGET.total_seconds() // 60)
    return Dashboard(
        shop_id=shop_id,
        weeks=week_rows,
        orders=orders,
        filed=filed,
        refunded=refunded,
        refund_rate_pct=_pct(refunded, orders),
        review_p50_minutes=charts.percentile(minutes, 50),
        review_p90_minutes=charts.percentile(minutes, 90),
        decided=len(minutes),
        within_target_pct=_pct(within, len(minutes)),
        automatic=_grouped(RefundCase.auto_rule, in_period, RefundCase.auto_rule != ""),
        levels=_grouped(RefundCase.risk_level, in_period, RefundCase.risk_level != ""),
        chart=charts.grouped_bars([(w.filed, w.refunded, w.rejected) for w in week_rows]),
    )


def _review_minutes(in_period: ColumnElement[bool]) -> list[int]:
    """Minutes from filing to the first decision, for the period's decided cases."""
    decided_at = func.min(Event.created_at)
    rows = db.session.execute(
        select(RefundCase.created_at, decided_at)
        .join(Event, Event.case_id == RefundCase.id)
        .where(in_period, Event.kind == "transition", Event.to_state.in_(DECISIONS))
        .group_by(RefundCase.id, RefundCase.created_at)
    ).all()
    return [max(0, int((done - filed).total_seconds() // 60)) for filed, done in rows]


def _grouped(
    column: Any, in_period: ColumnElement[bool], present: ColumnElement[bool]
) -> dict[str, int]:
    rows = db.session.execute(
        select(column, func.count()).where(in_period, present).group_by(column).order_by(column)
    ).all()
    return {str(k): int(n) for k, n in rows}
