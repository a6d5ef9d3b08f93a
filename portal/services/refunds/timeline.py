"""A case's timeline: its events in order, for the buyer's and the reviewer's pages."""

from __future__ import annotations

from sqlalchemy import or_, select

from portal.extensions import db
from portal.models import Event, RefundCase


def timeline(case: RefundCase) -> list[Event]:
    """Every event of the case, oldest first."""
    return list(
        db.session.scalars(
            select(Event).where(or_(Event.case_id == case.id)).order_by(Event.created_at, Event.id)
        )
    )
