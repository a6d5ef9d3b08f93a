"""A dashboard's figures, for the platform or one shop, over a period of Beijing days, from the
daily rollups only (``portal.services.reports.rollups``) and the open backlog by age counted
each minute (``portal.services.reports.backlog``): refund rate by product and reason, review
times and the share decided within the review target, merchant answer times, payouts' time
to arrival per channel, appeals, automatic approvals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select

from portal.domain import charts, deadlines, rollups
from portal.extensions import db
from portal.models import Merchant, Product, daily_rollups
from portal.services import context
from portal.services.reports import backlog as backlogs
from portal.services.reports.rollups import COUNTS

#: the period shown when none is asked for
DEFAULT_DAYS = 30
#: a period longer than this is charted per week
DAILY_UP_TO = 62
#: rows a page's product table shows (the CSV has them all)
PRODUCT_ROWS = 20
#: channels and products a filter may name (longer input is ignored)
MAX_CHANNEL = 40


@dataclass(frozen=True)
class Filters:
    """What a dashboard shows: whose figures, which product and channel, which days."""

    shop_id: int | None
    product_id: int | None
    channel: str
    first: date
    last: date

    @property
    def days(self) -> int:
        """The period's length in days."""
        return (self.last - self.first).days + 1


def filters(
    shop_id: int | None,
    product_id: int | None = None,
    channel: str = "",
    start: str = "",
    end: str = "",
) -> Filters:
    """Filters from what a reader asked for: a bad or impossible day gives the default period
    (the last 30 days), a period longer than a year is cut to its last year, an unknown
    channel shows nothing rather than an error."""
    today = rollups.day_of(context.now())
    last = rollups.parse_day(end) or today
    if last > today:
        last = today
    first = rollups.parse_day(start) or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        first = last - timedelta(days=DEFAULT_DAYS - 1)
    if (last - first).days >= rollups.MAX_DAYS:
        first = last - timedelta(days=rollups.MAX_DAYS - 1)
    channel = channel if channel.isascii() and len(channel) <= MAX_CHANNEL else ""
    return Filters(shop_id, product_id, channel.strip(), first, last)


@dataclass(frozen=True)
class Durations:
    """Durations counted per bucket: how many, p50 and p90 (bucket edges, minutes; -1: longer
    than the last edge)."""

    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def p50(self) -> int | None:
        return rollups.percentile_edge(self.counts, 50)

    @property
    def p90(self) -> int | None:
        return rollups.percentile_edge(self.counts, 90)


@dataclass(frozen=True)
class Period:
    """One row of the cases-per-day (or per-week) table."""

    start: str
    filed: int
    refunded: int
    rejected: int
    paid: int


@dataclass(frozen=True)
class ProductRow:
    """A product's counts and its refund rate (approvals per paid order)."""

    product_id: int
    title: str
    paid: int
    filed: int
    refunded: int
    refunded_fen: int

    @property
    def rate_pct(self) -> int | None:
        return rollups.pct(self.refunded, self.paid)


@dataclass(frozen=True)
class ReasonRow:
    """A reason's cases; its refund rate is its approvals per paid order of the period."""

    reason: str
    filed: int
    refunded: int
    rejected: int
    rate_pct: int | None


@dataclass(frozen=True)
class ChannelRow:
    """Payouts that arrived through a channel: how fast, and how many on time."""

    channel: str
    arrived: int
    on_time: int
    times: Durations

    @property
    def on_time_pct(self) -> int | None:
        return rollups.pct(self.on_time, self.arrived)


@dataclass(frozen=True)
class Dashboard:
    """The figures a dashboard page shows."""

    filters: Filters
    totals: dict[str, int]
    periods: list[Period]
    weekly: bool
    products: list[ProductRow]
    reasons: list[ReasonRow]
    channels: list[ChannelRow]
    review: Durations
    answer: Durations
    backlog: backlogs.Backlog  # the open cases by age
    review_days: int  # the review target in working days (the case's deadline)
    charts: dict[str, charts.Chart] = field(default_factory=dict)

    @property
    def on_time_pct(self) -> int | None:
        """First decisions made within the review target (working days), in percent."""
        return rollups.pct(self.totals["decided_on_time"], self.totals["decided"])

    @property
    def refund_rate_pct(self) -> int | None:
        return rollups.pct(self.totals["refunded"], self.totals["paid"])

    @property
    def came_back(self) -> list[tuple[str, int, int, int | None]]:
        """Buyers who came back to the shop: (after what, buyers, came back, share) after an
        approval, a rejection, and an order on which no case was filed."""
        t = self.totals
        return [
            (kind, t[base], t[back], rollups.pct(t[back], t[base]))
            for kind, base, back in (
                ("refunded", "refunded", "refunded_back"),
                ("rejected", "rejected", "rejected_back"),
                ("unasked", "unasked", "unasked_back"),
            )
        ]

    @property
    def overturn_pct(self) -> int | None:
        return rollups.pct(self.totals["overturned"], self.totals["appeals"])

    @property
    def reversed_pct(self) -> int | None:
        return rollups.pct(self.totals["auto_reversed"], self.totals["automatic"])


def shops() -> list[tuple[int, str]]:
    """Shops to filter by (id, name), by name."""
    return [
        (r[0], r[1])
        for r in db.session.execute(select(Merchant.id, Merchant.name).order_by(Merchant.name))
    ]


def _where(f: Filters) -> list[ColumnElement[bool]]:
    r = daily_rollups.c
    out = [r.day >= f.first.isoformat(), r.day <= f.last.isoformat()]
    if f.shop_id is not None:
        out.append(r.merchant_id == f.shop_id)
    if f.product_id is not None:
        out.append(r.product_id == f.product_id)
    if f.channel:
        out.append(r.channel == f.channel)
    return out


def _sum(name: str) -> Any:
    return func.coalesce(func.sum(daily_rollups.c[name]), 0)


def _bucket_names(prefix: str) -> list[str]:
    return [f"{prefix}_b{i}" for i in range(rollups.BUCKETS)]


def _durations(values: dict[str, int], prefix: str) -> Durations:
    return Durations(tuple(values[n] for n in _bucket_names(prefix)))


def _periods(f: Filters, days: dict[str, dict[str, int]]) -> tuple[list[Period], bool]:
    weekly = f.days > DAILY_UP_TO
    step = 7 if weekly else 1
    out = []
    start = f.first
    while start <= f.last:
        span = [(start + timedelta(days=i)).isoformat() for i in range(step)]
        rows = [days[d] for d in span if d in days and d <= f.last.isoformat()]
        out.append(
            Period(
                start.isoformat(),
                *(sum(r[n] for r in rows) for n in ("filed", "refunded", "rejected", "paid")),
            )
        )
        start += timedelta(days=step)
    return out, weekly


def build(f: Filters, product_rows: int | None = PRODUCT_ROWS) -> Dashboard:
    """The dashboard for ``f``: four statements over the rollups' rows of the period, one read
    of the open backlog's last count. ``product_rows``: the busiest products kept (None: all,
    for the CSV)."""
    where = _where(f)
    r = daily_rollups.c
    by_day = {
        row[0]: dict(zip(COUNTS, (int(v or 0) for v in row[1:]), strict=True))
        for row in db.session.execute(
            select(r.day, *(_sum(n) for n in COUNTS)).where(*where).group_by(r.day)
        )
    }
    totals = {n: sum(d[n] for d in by_day.values()) for n in COUNTS}
    periods, weekly = _periods(f, by_day)
    by_product = (
        select(
            r.product_id,
            func.coalesce(func.max(Product.title), ""),
            *(_sum(n) for n in ("paid", "filed", "refunded", "refunded_fen")),
        )
        .outerjoin(Product, Product.id == r.product_id)
        .where(*where)
        .group_by(r.product_id)
        .order_by(_sum("paid").desc(), r.product_id)
    )
    if product_rows is not None:
        by_product = by_product.limit(product_rows)
    products = [
        ProductRow(int(p), str(t), *(int(v) for v in rest))
        for p, t, *rest in db.session.execute(by_product)
    ]
    reasons = [
        ReasonRow(str(reason), int(filed), int(refunded), int(rejected), None)
        for reason, filed, refunded, rejected in db.session.execute(
            select(r.reason, _sum("filed"), _sum("refunded"), _sum("rejected"))
            .where(*where, r.reason != "")
            .group_by(r.reason)
            .order_by(r.reason)
        )
    ]
    reasons = [
        ReasonRow(
            x.reason, x.filed, x.refunded, x.rejected, rollups.pct(x.refunded, totals["paid"])
        )
        for x in reasons
    ]
    payout_names = ["arrived", "arrived_on_time", *_bucket_names("payout")]
    channels = []
    for channel, *values in db.session.execute(
        select(r.channel, *(_sum(n) for n in payout_names))
        .where(*where, r.channel != "")
        .group_by(r.channel)
        .having(_sum("arrived") > 0)
        .order_by(r.channel)
    ):
        v = dict(zip(payout_names, (int(x) for x in values), strict=True))
        channels.append(
            ChannelRow(str(channel), v["arrived"], v["arrived_on_time"], _durations(v, "payout"))
        )
    d = Dashboard(
        filters=f,
        totals=totals,
        periods=periods,
        weekly=weekly,
        products=products,
        reasons=reasons,
        channels=channels,
        review=_durations(totals, "review"),
        answer=_durations(totals, "answer"),
        backlog=backlogs.of(f.shop_id, f.product_id, f.channel),
        review_days=deadlines.Rules.from_config(context.setting).review_working_days,
    )
    d.charts.update(
        periods=charts.grouped_bars([(p.filed, p.refunded, p.rejected) for p in periods]),
        review=charts.grouped_bars([(n,) for n in d.review.counts]),
        backlog=charts.grouped_bars([(n,) for _, n in d.backlog.groups]),
    )
    return d


def product_choices(d: Dashboard) -> Sequence[tuple[int, str]]:
    """Products to filter by: the period's busiest, first."""
    return [(p.product_id, p.title) for p in d.products]


def bucket_edges() -> list[int]:
    """Each duration bucket's upper edge in minutes, -1 for the open last one."""
    return [*rollups.EDGES_MINUTES, -1]
