"""The plugin manager and the payout channel registry.

Built-in and third-party plugins load the same way: through the
``refund_portal`` entry-point group. Channels are resolved by id; a duplicate
id is an error at start-up, never at payout time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

from portal.plugins import hookspecs
from portal.plugins.channels import ChannelError, PayoutChannel
from portal.plugins.loading import ENTRY_POINT_GROUP
from portal.plugins.loading import load_entry_points as load
from portal.plugins.notifiers import LogNotifier

__all__ = [
    "ENTRY_POINT_GROUP",
    "REQUIRED_CHANNEL_METHODS",
    "ChannelRegistry",
    "make_plugin_manager",
]

REQUIRED_CHANNEL_METHODS = ("arrival", "execute_refund", "query_refund")


def make_plugin_manager(
    load_entry_points: bool = True, allowed: frozenset[str] | None = None
) -> pluggy.PluginManager:
    """Create the plugin manager and load the installed plugins (those in ``allowed``, if given).

    A plugin that fails to import is recorded (``portal.plugins.loading.plugin_infos``),
    not raised: ``init_plugins`` decides whether the portal may start without it.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)

    pm.register(LogNotifier(), name="portal.log-notifier")
    if load_entry_points:
        load(pm, allowed)
    return pm


class ChannelRegistry:
    """Channels by id, built once at start-up from the plugins."""

    def __init__(self, channels: Iterable[PayoutChannel]) -> None:
        self._channels: dict[str, PayoutChannel] = {}
        for channel in channels:
            for name in REQUIRED_CHANNEL_METHODS:
                if not callable(getattr(channel, name, None)):
                    raise ChannelError(f"channel {channel!r} lacks the method {name}()")
            cid = getattr(channel, "id", None)
            if not cid:
                raise ChannelError(f"channel {channel!r} has no id")
            if cid in self._channels:
                raise ChannelError(f"duplicate payout channel id {cid!r}")
            self._channels[cid] = channel

    @classmethod
    def from_plugins(cls, pm: pluggy.PluginManager, settings: Mapping[str, Any]) -> ChannelRegistry:
        """Collect the channels every plugin registers."""
        found: list[PayoutChannel] = []
        for batch in pm.hook.register_payout_channels(settings=settings):
            found.extend(batch or ())
        return cls(found)

    def get(self, channel_id: str) -> PayoutChannel:
        """The channel with this id; ChannelError if none is loaded."""
        try:
            return self._channels[channel_id]
        except KeyError:
            raise ChannelError(f"no payout channel {channel_id!r} is loaded") from None

    def ids(self) -> list[str]:
        """Loaded channel ids, sorted."""
        return sorted(self._channels)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._channels
