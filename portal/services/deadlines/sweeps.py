"""Set-based queries that find work a lost job left behind."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select

from portal.domain import payout_states
from portal.extensions import db
from portal.models import Payout


def due_payout_ids(now: datetime, grace: timedelta) -> list[int]:
    """Payouts not final whose next attempt is due (or that were never attempted)."""
    rows = db.session.scalars(
        select(Payout.id).where(
            Payout.state.in_(payout_states.IN_FLIGHT),
            or_(
                and_(Payout.next_attempt_at.is_(None), Payout.created_at <= now - grace),
                Payout.next_attempt_at <= now,
            ),
        )
    ).all()
    db.session.rollback()
    return list(rows)
