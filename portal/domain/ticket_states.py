"""The support ticket (工单) state machine: whose turn it is to write; why a ticket was opened.

Every state change of a ticket goes through ``portal.services.refunds.transitions.move_ticket``,
which consults :func:`check` here and writes an event in the same transaction.
"""

from __future__ import annotations

import enum

from portal.domain import state_table


class TicketState(enum.StrEnum):
    """States of a ticket."""

    OPEN = "open"  # waiting for staff
    ANSWERED = "answered"  # staff answered; waiting for the buyer


class TicketReason(enum.StrEnum):
    """Why a ticket was opened (``Ticket.reason``)."""

    QUESTION = "question"  # the buyer asked support before the case was decided
    REVIEW_LATE = "review_late"  # the review is past its deadline
    REFUND_LATE = "refund_late"  # a payout is past its expected arrival


#: the longest message a buyer or staff member may write in a thread or a ticket
MAX_MESSAGE_CHARS = 2000


#: from -> the states a ticket may go to. The one transitions table.
TRANSITIONS: dict[TicketState, frozenset[TicketState]] = {
    TicketState.OPEN: frozenset({TicketState.ANSWERED}),  # staff answer
    TicketState.ANSWERED: frozenset({TicketState.OPEN}),  # the buyer writes again
}

#: the state a ticket is created in
INITIAL = TicketState.OPEN


def after_reply(by_buyer: bool) -> TicketState:
    """The state a reply leaves a ticket in: the buyer's waits for staff, staff's for the buyer."""
    return TicketState.OPEN if by_buyer else TicketState.ANSWERED


def check(frm: TicketState, to: TicketState) -> None:
    """Raise IllegalMove unless a ticket may move from ``frm`` to ``to``."""
    state_table.check(TRANSITIONS, frm, to, "ticket")
