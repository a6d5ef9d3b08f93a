"""What a ledger transaction records: the kinds of money movement in the merchant's books."""

from __future__ import annotations

import enum


class LedgerKind(enum.StrEnum):
    """Kinds of ledger transaction (``ledger_transactions.kind``)."""

    PAYMENT = "payment"  # an order was paid: the money is held in escrow
    SETTLEMENT = "settlement"  # escrow handed to the merchant's available balance
    FREEZE = "freeze"  # part of the available balance held for a dispute
    RELEASE = "release"  # frozen funds given back to the merchant
    REFUND = "refund"  # a decided refund made payable to the buyer
    PAYOUT = "payout"  # a refund left through its payout channel
    PAYOUT_RETURNED = "payout_returned"  # a paid-out refund came back (a bank return)
