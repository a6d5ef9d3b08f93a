"""The bill of a channel that settles by imported statement (the bank): the statement lines
booked on a Beijing day are that day's bill, matched against the payouts we sent in batches
due for execution that day (``DayBasis.SENT``), not against the payouts the statements
settled (that would be the statement checked against itself).

A day whose statement has not come yet is missing, not a list of differences: the bank has
reported nothing on or after that day while we sent payouts due on it.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, and_, exists, or_, select

from portal.domain.reconciliation import day_bounds
from portal.extensions import db
from portal.models import Payout, StatementLine
from portal.plugins.channels import BillRow, ResultStatus


def _booked_on(channel_id: str, day: date) -> tuple[ColumnElement[bool], ...]:
    """The channel's lines booked on ``day`` (a line with no booking date: imported then)."""
    start, end = day_bounds(day)
    return (
        StatementLine.channel == channel_id,
        or_(
            StatementLine.booked_on == day.isoformat(),
            and_(
                StatementLine.booked_on == "",
                StatementLine.imported_at >= start,
                StatementLine.imported_at < end,
            ),
        ),
    )


def bill_rows(channel_id: str, day: date) -> list[BillRow]:
    """The bookings (not the returns) of the channel's statements booked on ``day``, each
    entry once (a transfer booked twice is two rows)."""
    at = day_bounds(day)[0]  # a booking has a date, not a time: the day's start
    lines = db.session.execute(
        select(StatementLine.refund_no, StatementLine.amount_fen)
        .where(*_booked_on(channel_id, day), StatementLine.status == ResultStatus.SUCCEEDED)
        .order_by(StatementLine.id)
    )
    return [BillRow(no, no, amount, at) for no, amount in lines]


def arrived(channel_id: str, day: date) -> bool:
    """Whether the channel's statement of ``day`` has been imported: a line booked on that
    day or later (statements come in order of their days)."""
    start = day_bounds(day)[0]
    later = or_(
        StatementLine.booked_on >= day.isoformat(),
        and_(StatementLine.booked_on == "", StatementLine.imported_at >= start),
    )
    return bool(
        db.session.scalar(select(exists().where(StatementLine.channel == channel_id, later)))
    )


def expected(channel_id: str, day: date) -> bool:
    """Whether we sent the channel payouts in a batch due on ``day`` (so its statement of
    that day has something to book)."""
    start, end = day_bounds(day)
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    Payout.channel == channel_id,
                    Payout.exported_at >= start,
                    Payout.exported_at < end,
                )
            )
        )
    )
