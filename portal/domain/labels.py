"""Human labels for states, events and payouts (English msgids, translated where shown).

Pure data keyed by the domain's enums: templates show them, services write them into notices.
"""

from __future__ import annotations

from portal.domain import assignment
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.offer_states import OfferState
from portal.domain.order_sources import SourceProblem
from portal.domain.payout_states import PayoutState
from portal.domain.policy import N_
from portal.domain.states import State
from portal.domain.ticket_states import TicketReason

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
    "evidence_added": N_("Files added"),
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
    "payout_abnormal": N_("The buyer's account could not receive the refund; the channel holds it"),
    "payout_redirected": N_("Held refund sent on to another account"),
    "payout_redirect_refused": N_("The payment channel refused to send the held refund on"),
    "payout_set_aside": N_("Held refund left with the channel; paid by another route"),
    "payout_late": N_("The refund is late"),
    "escalated": N_("Review late: passed to a supervisor"),
    "review_reminder": N_("Reviewers reminded of the review deadline"),
    "merchant_silent": N_("The merchant did not answer in time"),
    "order_cancelled": N_("Order cancelled"),
    "order_received": N_("Order received from the shop"),
    "delivered": N_("Goods delivered"),
    "goods_used": N_("Goods used"),
    assignment.CLAIMED: N_("Case taken by a reviewer"),
    assignment.REASSIGNED: N_("Case reassigned"),
    assignment.RELEASED: N_("Case given back to the queue"),
}

PAYOUT_LABELS = {
    PayoutState.CREATED: N_("Queued"),
    PayoutState.PENDING: N_("Processing"),
    PayoutState.UNKNOWN: N_("Checking with the payment channel"),
    PayoutState.SUCCEEDED: N_("Arrived"),
    PayoutState.FAILED: N_("Failed"),
    PayoutState.RETURNED: N_("Bank returned the transfer"),
    PayoutState.ABNORMAL: N_("Your account could not receive it: held for you"),
}

#: what the buyer is told happens next, for the payout states that need saying
PAYOUT_NEXT = {
    PayoutState.ABNORMAL: N_(
        "The payment channel could not pay this refund into your account (for example a "
        "closed or frozen card). The money is held, not lost: support will send it to "
        "another account of yours and may contact you for a debit card. You need not "
        "apply again."
    ),
}

ROLE_LABELS = {
    "buyer": N_("Buyer"),
    "merchant": N_("Merchant"),
    "reviewer": N_("Platform"),
    "system": N_("System"),
}

LEDGER_LABELS = {
    LedgerKind.PAYMENT: N_("Order paid (held)"),
    LedgerKind.SETTLEMENT: N_("Settled to you"),
    LedgerKind.FREEZE: N_("Frozen for a dispute"),
    LedgerKind.RELEASE: N_("Unfrozen"),
    LedgerKind.REFUND: N_("Refund to the buyer"),
    LedgerKind.PAYOUT: N_("Refund paid out"),
    LedgerKind.PAYOUT_RETURNED: N_("Refund payout returned"),
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


#: what an HTTP error page says, by status (others fall back to the generic 400/500 text)
HTTP_ERROR_LABELS = {
    400: N_("The request could not be understood. Go back and try again."),
    403: N_("You do not have access to this page."),
    404: N_("There is no such page. Check the address, or start again from the home page."),
    405: N_("This page cannot be used that way."),
    413: N_("What you sent is too large."),
    415: N_("This kind of file or data is not accepted here."),
    429: N_("Too many attempts. Wait a moment and try again."),
    500: N_("Something went wrong on our side. Nothing was saved."),
    503: N_("The service is briefly unavailable. Try again in a moment."),
}


def http_error_label(status: int) -> str:
    """The msgid of an HTTP error page's message."""
    fallback = 500 if status >= 500 else 400
    return HTTP_ERROR_LABELS.get(status, HTTP_ERROR_LABELS[fallback])


#: why a support ticket was opened (``TicketReason``)
TICKET_REASON_LABELS = {
    TicketReason.QUESTION: N_("question before a decision"),
    TicketReason.REVIEW_LATE: N_("review late"),
    TicketReason.REFUND_LATE: N_("refund late"),
}

STAFF_ROLE_LABELS = {
    "reviewer": N_("Reviewer"),
    "supervisor": N_("Supervisor"),
    "merchant": N_("Merchant staff"),
}

#: why a webhook delivery failed (``WebhookDelivery.last_error`` starts with the kind)
WEBHOOK_FAILURES = {
    "http": N_("The receiver answered with an error"),
    "refused": N_("Not sent: the address is not a public https address"),
    "dns": N_("Not sent: the name does not resolve"),
    "connect": N_("Could not connect"),
    "tls": N_("The TLS certificate is not valid for this name"),
    "timeout": N_("No complete answer in time"),
    "protocol": N_("The answer is not valid HTTP"),
}


#: why a row of a shop's order source was not taken in (operators' order-sources page)
SOURCE_PROBLEM_LABELS = {
    SourceProblem.UNKNOWN_STATUS: N_("Order status the mapping does not know"),
    SourceProblem.UNKNOWN_GATEWAY: N_("Payment gateway mapped to no payout channel"),
    SourceProblem.BAD_TEXT: N_("Text that is not valid UTF-8"),
    SourceProblem.BAD_TIME: N_("No usable order time"),
    SourceProblem.BAD_AMOUNT: N_("Amount that is not in yuan and fen"),
    SourceProblem.NO_QUERY_PASSWORD: N_("The shop kept no query password"),
    SourceProblem.INVALID: N_("Fails the checks every shop order passes"),
}
