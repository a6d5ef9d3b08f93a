"""The events that reach a buyer by SMS: the only place spelling their codes."""

from __future__ import annotations

from enum import StrEnum


class SmsEvent(StrEnum):
    """What an SMS tells a buyer; each has its own console-approved template."""

    APPROVED = "approved"  # the case was decided for the buyer
    REJECTED = "rejected"  # the case was decided against the buyer
    NEEDS_INFO = "needs_info"  # more material was asked for
    REFUNDED = "refunded"  # the money was sent and arrived
    LATE = "late"  # a deadline passed (payout late, case escalated)
