"""A case's timeline: its events in order, for the buyer's and the reviewer's pages."""

from __future__ import annotations

from sqlalchemy import or_, select

from portal.domain import assignment, audit_chain, contacts, privacy
from portal.extensions import db
from portal.models import Event, RefundCase

#: events only the platform's staff see: who works a case, who was shown a buyer's whole
#: contact, who downloaded the case file, legal holds and the buyer's own exports
STAFF_ONLY = (
    assignment.KINDS
    | {contacts.REVEALED, audit_chain.CASE_FILE_DOWNLOADED}
    | privacy.STAFF_ONLY_KINDS
)


def timeline(case: RefundCase, staff: bool = False) -> list[Event]:
    """The case's events, oldest first; those in ``STAFF_ONLY`` only for the platform's
    staff."""
    query = select(Event).where(or_(Event.case_id == case.id))
    if not staff:
        query = query.where(Event.kind.not_in(sorted(STAFF_ONLY)))
    return list(db.session.scalars(query.order_by(Event.created_at, Event.id)))
