"""Store credit 余额 payout channel for refund-portal."""

from __future__ import annotations

__version__ = "0.1.0"
