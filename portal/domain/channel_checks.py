"""What checking one payout channel's configuration can come to (``check-channels``)."""

from __future__ import annotations

import enum


class CheckOutcome(enum.StrEnum):
    """The outcome of asking one channel to check its configuration."""

    OK = "ok"  # the channel's check passed
    FAILED = "failed"  # the channel's check found a problem (its words say which)
    UNCHECKABLE = "uncheckable"  # the channel does not implement ConnectionChecker
    BROKEN = "broken"  # the check raised or answered outside the contract (a plugin bug)

    @property
    def passed(self) -> bool:
        """Whether this outcome lets ``check-channels`` exit 0."""
        return self in (CheckOutcome.OK, CheckOutcome.UNCHECKABLE)
