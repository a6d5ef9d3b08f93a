"""The shops flagged to supervisors (``portal.domain.merchant_watch``): each shop's counts
over a period in two set-based statements (the period's cases per shop, with the merchant's
refusals and silences read from each case's events on their index; the period's paid orders
per shop), then the comparison in Python over one row per shop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, case, exists, func, select

from portal.domain import merchant_watch
from portal.domain.merchant_watch import THRESHOLDS, FlaggedShop, Measure, ShopCounts
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, Merchant, Order, RefundCase
from portal.services import context

__all__ = ["DEFAULT_DAYS", "MAX_DAYS", "THRESHOLDS", "Watch", "counts", "watch"]

DEFAULT_DAYS = 30
MAX_DAYS = 365
REFUNDED = (str(State.APPROVED), str(State.REFUNDING), str(State.REFUNDED))


@dataclass(frozen=True)
class Watch:
    """What the page shows: the period, the platform's shares, the flagged shops."""

    days: int
    shops: int
    platform: dict[Measure, int | None]
    flagged: list[FlaggedShop]


def _sum(condition: Any) -> Any:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def counts(days: int) -> list[ShopCounts]:
    """Every shop's counts over the last ``days`` days."""
    start = context.now() - timedelta(days=days)
    refused = exists().where(
        Event.case_id == RefundCase.id,
        Event.kind == "transition",
        Event.actor_role == str(Role.MERCHANT),
        Event.to_state == str(State.NEGOTIATING),
    )
    late = exists().where(Event.case_id == RefundCase.id, Event.kind == "merchant_silent")
    refunded = RefundCase.state.in_(REFUNDED)
    cases = {
        row[0]: row[1:]
        for row in db.session.execute(
            select(
                RefundCase.merchant_id,
                func.count(RefundCase.id),
                _sum(refunded),
                _sum(refused),
                _sum(and_(refused, refunded)),
                _sum(late),
            )
            .where(RefundCase.created_at >= start)
            .group_by(RefundCase.merchant_id)
        )
    }
    orders = dict(
        db.session.execute(
            select(Order.merchant_id, func.count(Order.id))
            .where(Order.paid_at >= start)
            .group_by(Order.merchant_id)
        ).all()
    )
    names = db.session.execute(select(Merchant.id, Merchant.name).order_by(Merchant.id)).all()
    out = []
    for merchant_id, name in names:
        filed, done, refusals, overturned, silent = (
            int(v or 0) for v in cases.get(merchant_id, (0,) * 5)
        )
        out.append(
            ShopCounts(
                merchant_id,
                name,
                orders=int(orders.get(merchant_id, 0)),
                filed=filed,
                refunded=done,
                refused=refusals,
                overturned=overturned,
                late=silent,
            )
        )
    return out


def watch(days: int = DEFAULT_DAYS) -> Watch:
    """The flagged shops over the last ``days`` days (bounded to 1..MAX_DAYS)."""
    days = min(max(1, days), MAX_DAYS)
    shops = counts(days)
    return Watch(days, len(shops), merchant_watch.platform_pct(shops), merchant_watch.review(shops))
