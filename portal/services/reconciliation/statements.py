"""The bill of a channel that settles by imported statement (the bank): the statement lines
imported on a Beijing day are that day's bill, since the payouts they booked were settled
when they were imported."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from portal.domain.reconciliation import day_bounds
from portal.extensions import db
from portal.models import StatementLine
from portal.plugins.channels import BillRow, ResultStatus


def bill_rows(channel_id: str, day: date) -> list[BillRow]:
    """The bookings (not the returns) of the channel's statements imported on ``day``."""
    start, end = day_bounds(day)
    lines = db.session.scalars(
        select(StatementLine)
        .where(
            StatementLine.channel == channel_id,
            StatementLine.imported_at >= start,
            StatementLine.imported_at < end,
            StatementLine.status == ResultStatus.SUCCEEDED,
        )
        .order_by(StatementLine.id)
    )
    return [BillRow(x.refund_no, x.refund_no, x.amount_fen, x.imported_at) for x in lines]
