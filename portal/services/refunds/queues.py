"""The case lists staff work from: the review queue, a shop's open cases; nearest deadline first."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import joinedload

from portal.domain import states
from portal.domain.states import OPEN_STATES, State
from portal.extensions import db
from portal.models import Order, RefundCase

#: what the reviewer's queue shows besides the cases waiting for review itself
_ALSO_IN_REVIEW_QUEUE = {State.NEEDS_INFO, State.APPROVED, State.PAYOUT_FAILED}


def _nearest_deadline_first(query: Select, limit: int) -> list[RefundCase]:
    """Cases with a deadline first (soonest first), then those without, oldest case first."""
    return list(
        db.session.scalars(
            query.order_by(
                RefundCase.deadline_at.is_(None), RefundCase.deadline_at, RefundCase.id
            ).limit(limit)
        )
    )


def review_queue(limit: int = 200) -> list[RefundCase]:
    """Cases a reviewer has to look at (or follow up on), the nearest deadline first, each with
    its order, shop and (for an appeal) the reviewer who rejected it loaded in the same query."""
    shown = states.REVIEW_QUEUE_STATES | _ALSO_IN_REVIEW_QUEUE
    query = (
        select(RefundCase)
        .where(RefundCase.state.in_([str(s) for s in shown]))
        .options(
            joinedload(RefundCase.order).joinedload(Order.merchant),
            joinedload(RefundCase.rejected_by),
        )
    )
    return _nearest_deadline_first(query, limit)


def merchant_open_cases(merchant_id: int, limit: int = 200) -> list[RefundCase]:
    """Open cases on the shop's own orders, the nearest deadline first."""
    query = (
        select(RefundCase)
        .join(Order, Order.id == RefundCase.order_id)
        .where(
            Order.merchant_id == merchant_id,
            RefundCase.state.in_([str(s) for s in OPEN_STATES]),
        )
    )
    return _nearest_deadline_first(query, limit)
