"""Reading payouts for pages and the API: an order's, a case's, and the operator's list."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Payout, RefundCase


def recent(state: str | None = None, limit: int = 200) -> list[Payout]:
    """The newest payouts, only those in ``state`` when one is given."""
    query = select(Payout).order_by(Payout.id.desc()).limit(limit)
    if state:
        query = query.where(Payout.state == state)
    return list(db.session.scalars(query))


def of_case(case_id: int) -> list[Payout]:
    """The case's payouts, in the order they were created."""
    return list(
        db.session.scalars(select(Payout).where(Payout.case_id == case_id).order_by(Payout.id))
    )


def of_order(order_id: int) -> list[Payout]:
    """The order's payouts (over all its cases), in the order they were created."""
    return list(
        db.session.scalars(select(Payout).where(Payout.order_id == order_id).order_by(Payout.id))
    )


def of_order_with_case_no(order_id: int) -> list[tuple[Payout, str]]:
    """The order's payouts, each with its case's number, in the order they were created."""
    rows = db.session.execute(
        select(Payout, RefundCase.case_no)
        .join(RefundCase, RefundCase.id == Payout.case_id)
        .where(Payout.order_id == order_id)
        .order_by(Payout.id)
    )
    return [(payout, case_no) for payout, case_no in rows]
