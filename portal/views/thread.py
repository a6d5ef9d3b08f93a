"""What the negotiation thread shows each party: messages, offers, which offer it may accept."""

from __future__ import annotations

from typing import Any

from portal.domain.states import CONVERSATION_STATES, State
from portal.models import RefundCase
from portal.services.refunds import disputes
from portal.services.refunds.timeline import timeline
from portal.views.forms import EmptyForm, MessageForm, OfferForm

THREAD_KINDS = ("message", "offer", "offer_accepted", "transition", "applied")


def thread_context(case: RefundCase, viewer_role: str) -> dict[str, Any]:
    """Template context for ``_thread.html`` as seen by ``viewer_role``."""
    offer = disputes.open_offer(case)
    negotiating = case.state == State.NEGOTIATING
    return {
        "thread": [e for e in timeline(case) if e.kind in ("message", "offer", "offer_accepted")],
        "offers": {o.id: o for o in disputes.offers_of(case)},
        "open_offer": offer,
        "can_accept": bool(negotiating and offer and offer.by_role != viewer_role),
        "negotiating": negotiating,
        "can_write": State(case.state) in CONVERSATION_STATES,
        "message_form": MessageForm(prefix="msg"),
        "offer_form": OfferForm(prefix="offer"),
        "accept_form": EmptyForm(prefix="accept"),
        "viewer_role": viewer_role,
    }
