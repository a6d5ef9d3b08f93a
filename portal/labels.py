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
