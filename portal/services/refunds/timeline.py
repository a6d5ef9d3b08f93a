"""A case's timeline: its events in order, for the buyer's and the reviewer's pages."""

from __future__ import annotations

from sqlalchemy import or_, select

from portal.domain import assignment, contacts
from portal.extensions import db
from portal.models import Event, RefundCase


def timeline(case: RefundCase, staff: bool = False) -> list[Event]:
    """The case's events, oldest first; who works the case inside the platform (assignment)
    and who was shown the buyer's whole contact, only for the platform's staff."""
    query = select(Event).where(or_(Event.case_id == case.id))
    if not staff:
        query = query.where(Event.kind.not_in(sorted(assignment.KINDS | {contacts.REVEALED})))
    return list(db.session.scalars(query.order_by(Event.created_at, Event.id)))
