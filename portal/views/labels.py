"""Human labels for states, events and payouts (English msgids, translated in templates)."""

from __future__ import annotations

from portal.domain.offer_states import OfferState
from portal.domain.payout_states import PayoutState
from portal.domain.policy import N_
from portal.domain.states import State

STATE_LABELS = {
    State.SUBMITTED: N_("Submitted, waiting for review"),
    State.NEEDS_INFO: N_("More material needed"),
    State.UNDER_REVIEW: N_("Under review"),
    State.NEGOTIATING: N_("Three-way negotiation"),
    State.APPROVED: N_("Approved"),
    State.REJECTED: N_("Rejected"),
    State.APPEALED: N_("Appealed"),
    State.REFUNDING: N_("Refund in progress"),
    State.REFUNDED: N_("Refunded"),
    State.PAYOUT_FAILED: N_("Refund failed, support is on it"),
    State.WITHDRAWN: N_("Withdrawn"),
    State.CLOSED: N_("Closed"),
}

EVENT_LABELS = {
    "applied": N_("Application submitted"),
    "transition": N_("Status changed"),
    "payout_created": N_("Refund sent to the payment channel"),
    "codes_withdrawn": N_("Unrevealed card codes taken back"),
    "return_confirmed": N_("Return confirmed"),
    "code_revealed": N_("Card code revealed"),
    "message": N_("Message"),
    "offer": N_("Offer"),
    "offer_accepted": N_("Offer accepted"),
    "funds_frozen": N_("Merchant funds frozen for the dispute"),
    "funds_released": N_("Frozen funds released"),
    "funds_applied": N_("Frozen funds used for the refund"),
    "offer_countered": N_("Offer countered"),
    "ticket_answered": N_("Support answered the ticket"),
    "ticket_open": N_("The buyer wrote again on the ticket"),
    "ticket_opened": N_("Support ticket opened"),
    "payout_succeeded": N_("Refund arrived"),
    "payout_pending": N_("Refund accepted by the payment channel"),
    "payout_unknown": N_("Checking the refund with the payment channel"),
    "payout_failed": N_("Refund failed at the payment channel"),
    "payout_returned": N_("Bank returned the transfer"),
    "payout_retried": N_("Refund sent again"),
    "payout_manual_route": N_("Refund paid by another route"),
    "payout_exported": N_("Refund put in a bank batch"),
    "payout_late_success": N_("Channel reports this refund paid: possible double payment"),
}

PAYOUT_LABELS = {
    PayoutState.CREATED: N_("Queued"),
    PayoutState.PENDING: N_("Processing"),
    PayoutState.UNKNOWN: N_("Checking with the payment channel"),
    PayoutState.SUCCEEDED: N_("Arrived"),
    PayoutState.FAILED: N_("Failed"),
    PayoutState.RETURNED: N_("Bank returned the transfer"),
}

ROLE_LABELS = {
    "buyer": N_("Buyer"),
    "merchant": N_("Merchant"),
    "reviewer": N_("Platform"),
    "system": N_("System"),
}

KIND_LABELS = {
    "refund_only": N_("Refund only"),
    "return_and_refund": N_("Return and refund"),
}

OFFER_LABELS = {
    OfferState.OPEN: N_("waiting for an answer"),
    OfferState.ACCEPTED: N_("accepted"),
    OfferState.COUNTERED: N_("countered"),
}
