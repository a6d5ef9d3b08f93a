"""The supplier-check contract: what ``check_supplier_redemption`` receives and returns.

A card code comes from a supplier (the company that issued it). A plugin that can ask a
supplier whether a code was redeemed gets one :class:`SupplierQuery` per delivered code of an
order whose buyer claims the code does not work, and returns a :class:`RedemptionAnswer`, or
``None`` when the code is none of its supplier's. Raising, returning anything else or taking
longer than ``SUPPLIER_CHECK_TIMEOUT`` seconds counts as "unknown", never as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.domain.supplier_checks import Redemption

__all__ = ["Redemption", "RedemptionAnswer", "SupplierQuery"]


@dataclass(frozen=True, slots=True)
class SupplierQuery:
    """One delivered code to ask about."""

    order_no: str  # the shop's order number
    product_sku: str  # the shop's SKU of the product (a plugin may serve only some)
    code: str  # the card code as delivered (a secret: send it to its supplier only)
    delivered_at: datetime  # when the code was delivered (UTC)


@dataclass(frozen=True, slots=True)
class RedemptionAnswer:
    """What the supplier said about one code."""

    supplier: str  # the supplier's name, shown to staff with the answer
    status: Redemption  # REDEEMED, NOT_REDEEMED or UNKNOWN
    redeemed_at: datetime | None = None  # when it was redeemed, if the supplier says (aware)
