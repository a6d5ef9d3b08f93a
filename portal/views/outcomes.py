"""What each case action tells the person who took it, once it is done (message ids)."""

from __future__ import annotations

from portal.services.policy_text import N_

STARTED = N_("Review started.")
INFO_REQUESTED = N_("More material was requested from the buyer.")
APPROVED = N_("The refund was approved; the money is on its way back.")
REJECTED = N_("The application was rejected.")
NEGOTIATION_OPENED = N_("A negotiation with the merchant was opened.")
RETURN_CONFIRMED = N_("The return of the goods was confirmed.")
MESSAGE_SENT = N_("Your message was sent.")
OFFER_SENT = N_("Your offer was sent.")
OFFER_ACCEPTED = N_("The offer was accepted.")
FUNDS_FROZEN = N_("The merchant's funds for this case were frozen.")
AGREED = N_("You agreed to the full refund.")
REFUSED = N_("Your refusal was sent; the platform will negotiate with the buyer.")
FILES_ADDED = N_("Your files were added to the case.")
WROTE_TO_SHOP = N_("Your message was sent to the shop; its answer will appear on this page.")
CLAIMED = N_("The case is yours now.")
RELEASED = N_("The case is back in the queue.")
REASSIGNED = N_("The case was reassigned.")
NOTHING_TO_TAKE = N_("No case is waiting for a reviewer right now.")
HOLD_SET = N_("The legal hold was set: this case's personal data will not be erased.")
HOLD_LIFTED = N_("The legal hold was lifted.")
ERASURE_ASKED = N_("Your request was sent. Staff will answer it by %(due)s.")
ERASURE_DONE = N_("The buyer's personal data on this order was erased.")
ERASURE_REFUSED = N_("The request was refused; the buyer sees your reason.")
