"""Human labels for states, events and payouts (English msgids, translated where shown).

Pure data keyed by the domain's enums: templates show them, services write them into notices.
"""

from __future__ import annotations

from portal.domain import assignment, audit_chain, contacts, privacy
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.merchant_watch import Measure
from portal.domain.offer_states import OfferState
from portal.domain.order_sources import SourceProblem
from portal.domain.payout_states import PayoutState
from portal.domain.policy import N_
from portal.domain.reconciliation import DifferenceKind, DifferenceState, RunStatus
from portal.domain.risk import RiskLevel, SignalCode
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
    "auto_approval_held": N_("Automatic approval held: high risk"),
    "risk_rule_changed": N_("Risk rule changed"),
    "watch_added": N_("Added to the watch list"),
    "watch_removed": N_("Removed from the watch list"),
    "fast_lane_limit_changed": N_("Fast-lane limit changed"),
    "fast_lane_opted_out": N_("Shop opted out of the fast lane"),
    "fast_lane_opted_in": N_("Shop opted into the fast lane"),
    contacts.REVEALED: N_("Buyer's full contact shown"),
    audit_chain.CASE_FILE_DOWNLOADED: N_("Case file downloaded"),
    privacy.ERASED: N_("Personal data erased"),
    privacy.HOLD_SET: N_("Legal hold set"),
    privacy.HOLD_LIFTED: N_("Legal hold lifted"),
    privacy.EXPORTED: N_("The buyer downloaded their data"),
    privacy.REQUESTED: N_("The buyer asked for their personal data to be erased"),
    privacy.REQUEST_ANSWERED: N_("Erasure request answered"),
    assignment.CLAIMED: N_("Case taken by a reviewer"),
    assignment.REASSIGNED: N_("Case reassigned"),
    assignment.RELEASED: N_("Case given back to the queue"),
    "recon_found": N_("Reconciliation found a difference"),
    "recon_resolved": N_("Reconciliation difference resolved"),
    "recon_matched": N_("Bill reconciled"),
    "recon_missing": N_("Bill not available yet"),
    "recon_refused": N_("Bill refused"),
    "recon_overdue": N_("Bill still not reconciled after the day's deadline"),
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


DIFFERENCE_KIND_LABELS = {
    DifferenceKind.UNKNOWN_AT_GATEWAY: N_("Money moved at the gateway with no refund of ours"),
    DifferenceKind.MISSING_FROM_BILL: N_("Refund of ours not on the bill"),
    DifferenceKind.AMOUNT_DIFFERS: N_("Amounts differ"),
    DifferenceKind.DIFFERENT_DAY: N_("On the bill of another day"),
    DifferenceKind.DUPLICATE: N_("On the bill more than once"),
}

DIFFERENCE_STATE_LABELS = {
    DifferenceState.OPEN: N_("Open"),
    DifferenceState.RESOLVED: N_("Resolved"),
}

RUN_STATUS_LABELS = {
    RunStatus.MATCHED: N_("Reconciled"),
    RunStatus.MISSING: N_("Bill not available yet"),
    RunStatus.REFUSED: N_("Bill refused"),
}


RISK_LEVEL_LABELS = {
    RiskLevel.LOW: N_("Low risk"),
    RiskLevel.REVIEW: N_("Needs a closer look"),
    RiskLevel.HIGH: N_("High risk"),
}

#: each risk signal's name on the rules page
SIGNAL_LABELS = {
    SignalCode.REVEALED_BEFORE_CLAIM: N_('Code revealed before an "invalid" claim'),
    SignalCode.USED_BEFORE_CLAIM: N_("Goods reported used before the claim"),
    SignalCode.SAME_EVIDENCE: N_("Same evidence on other cases (cases)"),
    SignalCode.SIMILAR_EVIDENCE: N_("Altered copies of the evidence on other cases (cases)"),
    SignalCode.CONTACT_APPLICATIONS: N_("Earlier applications by the contact"),
    SignalCode.CONTACT_REFUND_RATE: N_("Contact's refund rate (percent)"),
    SignalCode.CONTACT_REFUNDED_30D: N_("Refunded to the contact in 30 days (fen)"),
    SignalCode.CONTACT_APPEALS_LOST: N_("Appeals the contact lost"),
    SignalCode.PAYER_APPLICATIONS: N_("Earlier applications by the payer account"),
    SignalCode.VELOCITY_CONTACT_HOUR: N_("Applications per contact in an hour"),
    SignalCode.VELOCITY_CONTACT_DAY: N_("Applications per contact in a day"),
    SignalCode.VELOCITY_PAYER_HOUR: N_("Applications per payer account in an hour"),
    SignalCode.VELOCITY_PAYER_DAY: N_("Applications per payer account in a day"),
    SignalCode.VELOCITY_ADDRESS_HOUR: N_("Applications per network address in an hour"),
    SignalCode.VELOCITY_ADDRESS_DAY: N_("Applications per network address in a day"),
    SignalCode.WATCH_LIST: N_("On the watch list"),
    SignalCode.SUPPLIER_REDEEMED: N_("Codes the supplier reports redeemed"),
    SignalCode.SUPPLIER_UNKNOWN: N_("Codes the supplier could not answer for"),
    SignalCode.PLUGIN: N_("Signals from this installation's risk plugins (value)"),
}

#: the longer explanations on the risk pages
RISK_TEXT = {
    "rules_help": N_(
        'Each signal raises a case to "needs a closer look" or to "high risk" from the '
        "value given; empty means never. A case's level is the highest any signal reaches. "
        "High-risk cases are never approved automatically."
    ),
    "altered_copy": N_(
        "An altered copy of this picture (resized, saved again or cropped) is on other cases: "
        "%(cases)s"
    ),
    "shops_threshold": N_(
        "at least %(base)s counted, %(factor)s times the other shops and %(margin)s points "
        "above them"
    ),
    "shops_help": N_(
        "A shop is flagged on a measure when it has enough cases for it to count and its "
        "share is at least twice that of all other shops together and well above it in "
        "percentage points. A flag asks for a look at the shop; it changes nothing by itself."
    ),
    "watch_help": N_(
        "An entry only raises the risk level of the buyer's cases; it never refuses an "
        "application by itself."
    ),
    "lane_staff": N_(
        "Low-risk cases the rules favour (not delivered; reported invalid with the code never "
        "revealed) are approved at once up to the shop's limit, unless the merchant opted out. "
        "Platform default: ¥%(a)s."
    ),
    "lane_merchant": N_(
        "Low-risk cases the rules favour (not delivered; reported invalid with the code never "
        "revealed) are approved at once up to a limit the platform sets: the buyer is refunded "
        "without waiting for your answer. High-risk cases never are."
    ),
}

#: what a shop is measured on (supervisors' watched-shops page)
MERCHANT_MEASURE_LABELS = {
    Measure.REFUND_RATE: N_("Refund rate (cases refunded per paid order)"),
    Measure.REFUSAL_RATE: N_("Refusal rate (cases the merchant refused or offered less on)"),
    Measure.OVERTURNED: N_("Overturned refusals (refused cases refunded all the same)"),
    Measure.LATE_ANSWERS: N_("Late answers (cases the merchant did not answer in time)"),
}

#: the rules that decide a case by themselves (``refund_cases.auto_rule``)
AUTO_RULE_LABELS = {
    "not_delivered_proven": N_("Not delivered, as the order's times show"),
    "fast_not_delivered": N_("Fast lane: not delivered"),
    "fast_invalid_unrevealed": N_("Fast lane: invalid, code never revealed"),
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

#: why an order's personal data may not be erased now (portal.domain.privacy.Hold)
HOLD_LABELS = {
    privacy.Hold.OPEN_CASE: N_("a case on the order is still open (an appeal included)"),
    privacy.Hold.FROZEN: N_("funds are frozen for a dispute"),
    privacy.Hold.SUPERVISOR: N_("a supervisor's legal hold"),
    privacy.Hold.NOT_DUE: N_("the retention period has not passed"),
}

#: a buyer's erasure request (portal.domain.privacy.RequestState)
REQUEST_LABELS = {
    privacy.RequestState.OPEN: N_("waiting for an answer"),
    privacy.RequestState.DONE: N_("erased"),
    privacy.RequestState.REFUSED: N_("refused"),
}

#: the open backlog's age groups on the dashboards (``services.reports.dashboard.backlog``)
BACKLOG_LABELS = (
    N_("Under 1 day"),
    N_("1 to 3 days"),
    N_("3 to 7 days"),
    N_("7 to 30 days"),
    N_("30 days or more"),
)

#: after what buyers are counted as coming back to a shop (the dashboards)
CAME_BACK_LABELS = {
    "refunded": N_("After a refund"),
    "rejected": N_("After a rejection"),
    "unasked": N_("Never asked for a refund"),
}
