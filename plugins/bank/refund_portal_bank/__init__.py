"""Bank-card payout channel for refund-portal.

Refunds to a bank card are paid by bank transfer: the portal exports pending payouts as a
batch file (a bank CSV or an ISO 20022 pain.001 credit-transfer file), the operator uploads
it to the bank, and later imports the bank's camt.053 statement, whose lines are matched to
payouts by end-to-end reference. Nothing here talks to a bank over the network.
"""

from __future__ import annotations

from refund_portal_bank.channel import BankChannel

__all__ = ["BankChannel"]
