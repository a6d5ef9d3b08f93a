"""Human labels for states, events and payouts (English msgids, translated in templates)."""

from __future__ import annotations

from portal.domain.policy import N_

STATE_LABELS = {
    "submitted": N_("Submitted, waiting for review"),
    "needs_info": N_("More material needed"),
    "under_review": N_("Under review"),
    "negotiating": N_("Three-way negotiation"),
    "approved": N_("Approved"),
    "rejected": N_("Rejected"),
    "appealed": N_("Appealed"),
    "refunding": N_("Refund in progress"),
    "refunded": N_("Refunded"),
    "payout_failed": N_("Refund failed, support is on it"),
    "withdrawn": N_("Withdrawn"),
    "closed": N_("Closed"),
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
    "ticket_opened": N_("Support ticket opened"),
    "payout_succeeded": N_("Refund arrived"),
    "payout_pending": N_("Refund accepted by the payment channel"),
    "payout_unknown": N_("Checking the refund with the payment channel"),
    "payout_failed": N_("Refund failed at the payment channel"),
    "payout_returned": N_("Bank returned the transfer"),
    "payout_retried": N_("Refund sent again"),
    "payout_manual_route": N_("Refund paid by another route"),
    "payout_exported": N_("Refund put in a bank batch"),
}

PAYOUT_LABELS = {
    "created": N_("Queued"),
    "pending": N_("Processing"),
    "unknown": N_("Checking with the payment channel"),
    "succeeded": N_("Arrived"),
    "failed": N_("Failed"),
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
    "open": N_("waiting for an answer"),
    "accepted": N_("accepted"),
    "countered": N_("countered"),
}
