"""Support tickets (工单): opened by the buyer from a case at any time before its decision, or
later while its refund is late; answered by staff in one thread."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from portal.domain import payout_states, states, ticket_states
from portal.domain.states import CONVERSATION_STATES, Role, State
from portal.domain.ticket_states import MAX_MESSAGE_CHARS, TicketReason, TicketState
from portal.extensions import db
from portal.models import Payout, RefundCase, Ticket, TicketMessage
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import ConcurrentChange, DomainError, NotFound
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_ticket, record

REVIEW_LATE = TicketReason.REVIEW_LATE
REFUND_LATE = TicketReason.REFUND_LATE


def why_late(case: RefundCase) -> TicketReason | None:
    """REVIEW_LATE past the review deadline, REFUND_LATE past a payout's expected date."""
    now = context.now()
    if late_reason(case, now, late_payout=False) is not None:
        return REVIEW_LATE
    late_payout = db.session.scalar(
        select(Payout.id).where(
            Payout.case_id == case.id,
            Payout.state.in_(payout_states.NOT_ARRIVED),
            Payout.expected_arrival_at < now,
        )
    )
    return late_reason(case, now, late_payout=late_payout is not None)


def late_reason(case: RefundCase, now: datetime, late_payout: bool) -> TicketReason | None:
    """Why the case is late at ``now``, given whether one of its payouts is past its expected
    arrival: REVIEW_LATE past the review deadline, else REFUND_LATE, else None."""
    if (
        case.state in states.REVIEW_QUEUE_STATES
        and case.deadline_at is not None
        and now > case.deadline_at
    ):
        return REVIEW_LATE
    return REFUND_LATE if late_payout else None


def ticket_of(case: RefundCase) -> Ticket | None:
    """The case's ticket, if one was opened."""
    return db.session.scalar(select(Ticket).where(Ticket.case_id == case.id))


def why_open(case: RefundCase) -> TicketReason | None:
    """Why a ticket may be opened on ``case`` now: late, or a question before the decision;
    None when it may not (decided, withdrawn or closed, and nothing late)."""
    return open_reason(case, why_late(case))


def open_reason(case: RefundCase, late: TicketReason | None) -> TicketReason | None:
    """``why_open`` for a page that already knows why the case is late (``late``)."""
    if late is not None:
        return late
    return TicketReason.QUESTION if State(case.state) in CONVERSATION_STATES else None


def check_text(text: str, empty: str) -> str:
    """The message without surrounding blanks; DomainError if empty or too long."""
    text = text.strip()
    if not text:
        raise DomainError(empty, rule="empty_message")
    if len(text) > MAX_MESSAGE_CHARS:
        raise DomainError(
            N_("A message can have at most %(max)s characters; this one has %(n)s."),
            rule="message_too_long",
            max=str(MAX_MESSAGE_CHARS),
            n=str(len(text)),
        )
    return text


def open_ticket(case: RefundCase, actor: Actor, text: str) -> Ticket:
    """Open a ticket from a case (before its decision, or late), order and case attached."""
    reason = why_open(case)
    if reason is None:
        raise DomainError(
            N_(
                "Support can be contacted from a case until it is decided, "
                "and afterwards while its refund is late."
            ),
            rule="not_late",
        )
    if ticket_of(case) is not None:
        raise DomainError(N_("This case already has a ticket."), rule="ticket_exists")
    text = check_text(text, N_("Tell us what you need."))
    try:
        now = context.now()
        ticket = Ticket(
            case_id=case.id, order_id=case.order_id, reason=reason, created_at=now, updated_at=now
        )
        db.session.add(ticket)
        db.session.flush()
        db.session.add(
            TicketMessage(
                ticket_id=ticket.id,
                role=str(actor.role),
                author=actor.label,
                text=text,
                created_at=now,
            )
        )
        record(
            "ticket_opened",
            actor,
            case=case,
            reason=text[:500],
            data={"ticket_id": ticket.id, "why": reason},
        )
        db.session.commit()
        return ticket
    except Exception:
        db.session.rollback()
        raise


def reply(ticket_id: int, actor: Actor, text: str) -> TicketMessage:
    """Add a message to a ticket's thread (buyer or staff)."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(N_("Ticket not found."), rule="ticket")
    text = check_text(text, N_("Write a message."))
    try:
        now = context.now()
        msg = TicketMessage(
            ticket_id=ticket.id,
            role=str(actor.role),
            author=actor.label,
            text=text,
            created_at=now,
        )
        db.session.add(msg)
        to = ticket_states.after_reply(by_buyer=actor.role == Role.BUYER)
        if ticket.state == to:
            ticket.updated_at = now
        elif not move_ticket(ticket, to, actor, updated_at=now):
            raise ConcurrentChange(
                N_(
                    "Someone else changed this ticket a moment ago. Reload it to see what happened."
                ),
                rule="concurrent",
            )
        db.session.commit()
        return msg
    except Exception:
        db.session.rollback()
        raise


def find_ticket(ticket_id: int) -> Ticket | None:
    """The ticket with this id, or None."""
    return db.session.get(Ticket, ticket_id)


def open_tickets() -> list[Ticket]:
    """Tickets waiting for staff, oldest first."""
    return list(
        db.session.scalars(
            select(Ticket).where(Ticket.state == TicketState.OPEN).order_by(Ticket.updated_at)
        )
    )
