"""The risk-signal contract: what ``assess_refund_risk`` receives and returns.

An installation adds its own signals (its own abuse lists, a fraud service it pays for, rules
of its trade) by a plugin. The plugin gets one :class:`RiskApplication` when an application is
filed and returns :class:`PluginSignal` s: a value and a reason in both languages. The
portal keeps them as the signal ``risk_plugin`` (one per signal returned), which the
operator's rule for ``risk_plugin`` turns into a level like any other signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.plugins.words import Words

__all__ = ["MAX_VALUE", "PluginSignal", "RiskApplication", "Words"]

#: the largest value a plugin signal may have (larger ones are not kept)
MAX_VALUE = 1000


@dataclass(frozen=True, slots=True)
class RiskApplication:
    """An application being filed, as a risk plugin sees it."""

    order_no: str  # the shop's order number
    product_sku: str  # the shop's SKU
    reason: str  # the buyer's reason code (not_delivered, unusable, not_as_described, ...)
    amount_fen: int  # the amount asked, in fen
    contact: str  # the order's contact (phone or e-mail), trimmed and lower case
    payer_id: str  # the paying account's id at the gateway ("" when unknown)
    address: str  # the network address the application came from ("" when unknown)
    filed_at: datetime  # when (aware, UTC)


@dataclass(frozen=True, slots=True)
class PluginSignal:
    """One signal a plugin found: 0 is nothing; by default 1 asks for a person and 3 makes
    the case high risk (the operator's rule for ``risk_plugin`` decides)."""

    value: int
    reason: Words  # shown to staff in their language
