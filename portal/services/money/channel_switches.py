"""Operators enable or disable a payout channel; a disabled channel receives no payout.

The switch is a row in ``channel_switches`` (no row: enabled). Approving a refund on a
disabled channel is refused before anything is written (``payouts.start_payout``), and
settlement holds payouts already under way until the channel is enabled again.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import ChannelSwitch
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit


def is_enabled(channel_id: str) -> bool:
    """Whether payouts may go through ``channel_id`` (True unless an operator disabled it)."""
    row = db.session.get(ChannelSwitch, channel_id)
    return allows(None if row is None else row.enabled)


def allows(switch: bool | None) -> bool:
    """A switch's ``enabled`` column, or None where there is no row, as a yes or no."""
    return switch is not False  # no row: enabled


def disabled_ids() -> set[str]:
    """Channel ids an operator has disabled."""
    return set(
        db.session.scalars(select(ChannelSwitch.channel_id).where(ChannelSwitch.enabled.is_(False)))
    )


def set_enabled(
    channel_id: str, enabled: bool, actor: Actor, reason: str, known: set[str]
) -> ChannelSwitch:
    """Enable or disable a loaded channel (``known``: the loaded ids); writes an event."""
    reason = (reason or "").strip()
    if channel_id not in known:
        raise DomainError(
            N_("There is no loaded payout channel %(channel)s."),
            rule="channel_unknown",
            channel=channel_id,
        )
    if not enabled and not reason:
        raise DomainError(N_("Say why the channel is being disabled."), rule="reason_required")

    def work() -> ChannelSwitch:
        row = db.session.get(ChannelSwitch, channel_id, with_for_update=True)
        if row is None:
            row = ChannelSwitch(channel_id=channel_id)
            db.session.add(row)
        row.enabled = enabled
        row.changed_at = context.now()
        row.changed_by = actor.label
        row.reason = reason
        record(
            "channel_enabled" if enabled else "channel_disabled",
            actor,
            reason=reason,
            data={"channel": channel_id},
        )
        return row

    return commit(work)
