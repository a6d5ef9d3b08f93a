"""Reading payouts for pages and the API: an order's, a case's, and the operator's list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import Event, Payout, RefundCase
from portal.services.money.settlement import LATE_SUCCESS


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


@dataclass(frozen=True)
class PossibleDouble:
    """Money a channel reported moved for a payout held as failed, returned or paid another way."""

    payout_id: int
    case_no: str
    channel: str
    amount_fen: int
    state: str  # the payout's state when it was reported (left as it was)
    reference: str  # the gateway's reference for the money it reports moved
    source: str  # notification, call (a query), statement
    at: datetime


def possible_double_payments(limit: int = 100) -> list[PossibleDouble]:
    """The newest reports of a possible double payment, one per payout and gateway reference."""
    rows = db.session.execute(
        select(Event, Payout.channel, Payout.amount_fen, RefundCase.case_no)
        .join(Payout, Payout.id == Event.payout_id)
        .join(RefundCase, RefundCase.id == Payout.case_id)
        .where(Event.kind == LATE_SUCCESS)
        .order_by(Event.id.desc())
        .limit(limit)
    )
    return [
        PossibleDouble(
            event.payout_id or 0,
            case_no,
            channel,
            amount_fen,
            event.from_state,
            str((event.data or {}).get("reference", "")),
            str((event.data or {}).get("source", "")),
            event.created_at,
        )
        for event, channel, amount_fen, case_no in rows
    ]


def counts_by_state_and_channel() -> list[tuple[str, str, int]]:
    """(state, channel, how many payouts) for every pair that has any (the metrics' gauge)."""
    rows = db.session.execute(
        select(Payout.state, Payout.channel, func.count())
        .group_by(Payout.state, Payout.channel)
        .order_by(Payout.state, Payout.channel)
    )
    return [(str(state), str(channel), int(count)) for state, channel, count in rows]
