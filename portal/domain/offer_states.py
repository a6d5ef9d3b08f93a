"""The offer state machine: an amount one party offers in a three-way negotiation.

Every state change of an offer goes through ``portal.services.refunds.transitions.move_offer``,
which consults :func:`check` here and writes an event in the same transaction.
"""

from __future__ import annotations

import enum

from portal.domain import state_table


class OfferState(enum.StrEnum):
    """States of an offer."""

    OPEN = "open"  # waiting for the other side's answer (at most one per case)
    ACCEPTED = "accepted"  # the other side accepted: it became the approved amount (terminal)
    COUNTERED = "countered"  # a newer offer took its place (terminal)


#: from -> the states an offer may go to. The one transitions table.
TRANSITIONS: dict[OfferState, frozenset[OfferState]] = {
    OfferState.OPEN: frozenset({OfferState.ACCEPTED, OfferState.COUNTERED}),
    OfferState.ACCEPTED: frozenset(),
    OfferState.COUNTERED: frozenset(),
}

#: the state an offer is created in
INITIAL = OfferState.OPEN


def check(frm: OfferState, to: OfferState) -> None:
    """Raise IllegalMove unless an offer may move from ``frm`` to ``to``."""
    state_table.check(TRANSITIONS, frm, to, "offer")
