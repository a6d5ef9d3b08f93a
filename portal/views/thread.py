"""What the negotiation thread shows each party: messages, offers, which offer it may accept."""

from __future__ import annotations

from typing import Any

from portal.domain.states import CONVERSATION_STATES, State
from portal.models import Event, Offer, RefundCase
from portal.services.refunds import disputes
from portal.services.refunds.timeline import timeline
from portal.views.form_writing import deferred
from portal.views.forms import EmptyForm, MessageForm, OfferForm

THREAD_KINDS = ("message", "offer", "offer_accepted", "transition", "applied")


def thread_context(case: RefundCase, viewer_role: str) -> dict[str, Any]:
    """Template context for ``_thread.html`` as seen by ``viewer_role``."""
    return thread_parts(
        case,
        viewer_role,
        thread=[e for e in timeline(case) if e.kind in ("message", "offer", "offer_accepted")],
        offers={o.id: o for o in disputes.offers_of(case)},
        open_offer=disputes.open_offer(case),
    )


def thread_parts(
    case: RefundCase,
    viewer_role: str,
    thread: list[Event],
    offers: dict[int, Offer],
    open_offer: Offer | None,
) -> dict[str, Any]:
    """Template context for ``_thread.html`` from the thread and offers already read."""
    negotiating = case.state == State.NEGOTIATING
    return {
        "thread": thread,
        "offers": offers,
        "open_offer": open_offer,
        "can_accept": bool(negotiating and open_offer and open_offer.by_role != viewer_role),
        "negotiating": negotiating,
        "can_write": State(case.state) in CONVERSATION_STATES,
        # built if the page shows them
        "message_form": deferred(MessageForm, prefix="msg"),
        "offer_form": deferred(OfferForm, prefix="offer"),
        "accept_form": deferred(EmptyForm, prefix="accept"),
        "viewer_role": viewer_role,
    }
