"""Checking the configured payout channels: one harmless call each (``check-channels``).

Every loaded channel that implements :class:`~portal.plugins.channels.ConnectionChecker` is
asked once; a channel without it is listed as one that cannot be checked. A check that
breaks its contract (raises, or returns something other than a ``ConnectionCheck``) is
reported as broken, never raised: the operator sees every channel.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portal.domain.channel_checks import CheckOutcome
from portal.plugins.channels import ConnectionCheck, ConnectionChecker, PayoutChannel
from portal.plugins.words import Words


@dataclass(frozen=True, slots=True)
class ChannelCheck:
    """What checking one channel found.

    ``words`` is the channel's own sentence (OK and FAILED only); ``detail`` the gateway's
    code or message, or for BROKEN what the check did wrong (staff only, untranslated).
    """

    channel_id: str
    label: Words | str
    outcome: CheckOutcome
    words: Words | None = None
    detail: str = ""


def check_channel(channel: PayoutChannel) -> ChannelCheck:
    """Ask ``channel`` to check its configuration, if it can."""
    label = getattr(channel, "label", None) or channel.id
    if not isinstance(channel, ConnectionChecker):
        return ChannelCheck(channel.id, label, CheckOutcome.UNCHECKABLE)
    try:
        found = channel.check_connection()
    except Exception as exc:  # noqa: BLE001 - a plugin's bug is reported, not raised
        detail = f"check_connection() raised {type(exc).__name__}: {exc}"
        return ChannelCheck(channel.id, label, CheckOutcome.BROKEN, detail=detail[:300])
    if not isinstance(found, ConnectionCheck) or not isinstance(found.words, Words):
        detail = f"check_connection() returned {found!r}, not a ConnectionCheck with Words"
        return ChannelCheck(channel.id, label, CheckOutcome.BROKEN, detail=detail[:300])
    outcome = CheckOutcome.OK if found.ok else CheckOutcome.FAILED
    return ChannelCheck(channel.id, label, outcome, found.words, str(found.detail)[:300])


def check_channels(channels: Iterable[PayoutChannel]) -> list[ChannelCheck]:
    """Check every channel, in the order given (one call each, one after the other)."""
    return [check_channel(channel) for channel in channels]


def all_passed(checks: Iterable[ChannelCheck]) -> bool:
    """Whether no check failed (a channel that cannot be checked does not fail)."""
    return all(check.outcome.passed for check in checks)
