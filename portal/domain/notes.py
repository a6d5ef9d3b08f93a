"""What the system writes about a case, as a code with parameters, never as a sentence.

A ``Note`` is stored as JSON (``{"code": ..., "params": {...}}``) and turned into words only
when someone reads it, in the reader's language, through the message catalogue: the
sentence for each code is an English msgid here, translated at display time.

Parameters are plain JSON values; their names say how they are shown:

- ``..._at``: an ISO 8601 instant, shown in China time;
- ``..._fen``: an amount in fen, shown in yuan;
- ``..._minutes``: a duration, shown in natural units (24 小时, not 1440 分钟);
- anything else: shown as it is (numbers, ids).

A plugin cannot add sentences to the catalogue: it uses one of the codes below (see
``OUTCOME_CODES``) or hands over its own ``Words`` (``portal.plugins.words``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from portal.domain.policy import N_

#: code -> the sentence (an English msgid, translated when shown)
NOTES: dict[str, str] = {
    # decisions the system takes by itself
    "auto_not_delivered": N_(
        "Approved at once: the order was not delivered by %(deadline_at)s, as its own times show."
    ),
    "offer_accepted": N_("Approved as agreed in the negotiation."),
    "merchant_silent": N_("The merchant did not answer within its time, which counts as agreeing."),
    "merchant_silent_approved": N_("Approved because the merchant did not answer within its time."),
    "cancelled_auto_refund": N_("The order was cancelled, so the refund started by itself."),
    "review_target_passed": N_("The review took longer than its target of working days."),
    "info_timeout": N_("The material asked for did not arrive in time, so the case was closed."),
    "fast_not_delivered": N_(
        "Approved at once by the fast lane: not delivered, low risk, at most ¥%(limit_fen)s."
    ),
    "fast_invalid_unrevealed": N_(
        "Approved at once by the fast lane: reported invalid with the code never revealed, "
        "low risk, at most ¥%(limit_fen)s."
    ),
    "auto_approval_held": N_("Not approved automatically: the case is high risk."),
    # risk signals (portal.domain.risk), shown to staff with the case
    "risk_revealed_before_claim": N_(
        "A card code was first revealed at %(revealed_at)s, before this claim that it is invalid "
        "or not as described."
    ),
    "risk_used_before_claim": N_(
        "The shop reported the goods used at %(used_at)s, before this claim."
    ),
    "risk_same_evidence": N_("The same picture is on %(count)s other case(s): %(cases)s."),
    "risk_similar_evidence": N_(
        "A picture on %(count)s other case(s) looks like one of this case's, resized, saved "
        "again or cropped a little (%(bits)s of 64 fingerprint bits differ): %(cases)s."
    ),
    "risk_contact_applications": N_(
        "This contact has filed %(count)s earlier refund application(s) here."
    ),
    "risk_contact_refund_rate": N_(
        "This contact was refunded on %(refunded)s of %(orders)s orders (%(value)s%%)."
    ),
    "risk_contact_refunded_30d": N_(
        "Refunded to this contact in the last 30 days: ¥%(amount_fen)s."
    ),
    "risk_contact_appeals_lost": N_("This contact has lost %(count)s appeal(s)."),
    "risk_payer_applications": N_(
        "The payer account of this order has filed %(count)s earlier application(s)."
    ),
    "risk_velocity_contact_hour": N_("%(count)s application(s) from this contact in an hour."),
    "risk_velocity_contact_day": N_("%(count)s application(s) from this contact in a day."),
    "risk_velocity_payer_hour": N_("%(count)s application(s) from this payer account in an hour."),
    "risk_velocity_payer_day": N_("%(count)s application(s) from this payer account in a day."),
    "risk_velocity_address_hour": N_(
        "%(count)s application(s) from this network address in an hour."
    ),
    "risk_velocity_address_day": N_("%(count)s application(s) from this network address in a day."),
    "risk_watch_list": N_(
        "This buyer's contact or payer account is on the watch list until %(until_at)s "
        "(entry %(entry)s)."
    ),
    "risk_supplier_redeemed": N_(
        "The card supplier (%(supplier)s) says %(count)s code(s) of this order were already "
        "redeemed when asked at %(checked_at)s."
    ),
    "risk_supplier_unknown": N_(
        "Whether %(count)s code(s) of this order were redeemed is unknown: the card supplier "
        "(%(plugin)s) did not answer in time, failed, or gave an answer that could not be read."
    ),
    "risk_plugin": N_("%(plugin)s: %(words)s"),
    # outcomes a payout channel reports (plugins may use these codes)
    "awaiting_batch": N_("Waiting for the next bank batch file and the bank's statement."),
    "awaiting_statement": N_(
        "A bank transfer is settled only when it appears on an imported bank statement."
    ),
    "gateway_processing": N_("The payment channel is still processing the refund."),
    "gateway_refused": N_("The payment channel refused the refund; nothing was paid."),
    "account_unusable": N_(
        "The buyer's account or card cannot receive the refund; it must be paid another way."
    ),
    "transfer_returned": N_("The bank sent the transfer back."),
    "invalid_creditor": N_("The buyer's bank details cannot receive a transfer."),
}

#: the codes a payout channel may put in a RefundResult's ``note`` (documented in
#: docs/plugins.md): outcomes every channel can have, worded by the portal
OUTCOME_CODES = frozenset(
    {
        "awaiting_batch",
        "awaiting_statement",
        "gateway_processing",
        "gateway_refused",
        "account_unusable",
        "transfer_returned",
        "invalid_creditor",
    }
)

Param = str | int


@dataclass(frozen=True)
class Note:
    """A message code of the catalogue with its parameters: ``Note("awaiting_batch")``."""

    code: str
    params: Mapping[str, Param] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in NOTES:
            raise ValueError(f"unknown note code {self.code!r} (known: {sorted(NOTES)})")
        for name, value in self.params.items():
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValueError(f"note parameter {name!r} must be text or an integer")

    def to_json(self) -> dict[str, Any]:
        """The JSON stored for this note."""
        return {"code": self.code, "params": dict(self.params)}


def stored(value: Any) -> Note | None:
    """The Note a stored JSON value holds, or None (not a note, or a code no longer known)."""
    if not isinstance(value, dict) or not isinstance(value.get("code"), str):
        return None
    try:
        return Note(value["code"], dict(value.get("params") or {}))
    except ValueError:
        return None


def words_json(value: Any) -> dict[str, str] | None:
    """A plugin's own words as stored (``{"zh": ..., "en": ...}``), or None."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("zh"), str)
        and isinstance(value.get("en"), str)
    ):
        return {"zh": value["zh"], "en": value["en"]}
    return None
