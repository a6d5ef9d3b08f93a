"""The plugin manager, calling one plugin's hook, and the payout channel registry.

Built-in and third-party plugins load the same way: through the
``refund_portal`` entry-point group. Channels are resolved by id; a duplicate
id is an error at start-up, never at payout time. Hooks that hand a plugin its
settings are called plugin by plugin (:func:`call_impl`), never broadcast: pluggy
would give every plugin the same arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy
from pluggy import HookImpl

from portal.plugins import hookspecs
from portal.plugins.channels import ChannelError, ChannelServices, PayoutChannel
from portal.plugins.loading import ENTRY_POINT_GROUP
from portal.plugins.loading import load_entry_points as load
from portal.plugins.notifiers import LogNotifier
from portal.plugins.settings import plugin_settings

__all__ = [
    "ENTRY_POINT_GROUP",
    "REQUIRED_CHANNEL_METHODS",
    "ChannelRegistry",
    "call_impl",
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


def call_impl(impl: HookImpl, **offered: Any) -> Any:
    """Call one plugin's implementation with the offered arguments it names (pluggy's rule)."""
    return impl.function(*[offered[name] for name in impl.argnames])


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
    def from_plugins(
        cls,
        pm: pluggy.PluginManager,
        config: Mapping[str, Any],
        services: ChannelServices | None = None,
    ) -> ChannelRegistry:
        """Collect the channels every plugin registers, each given its own settings.

        For plugins' tests: a hook that raises raises here. The portal itself starts
        through :func:`portal.plugins.checks.check_channels`, which marks the plugin broken.
        """
        services = services or ChannelServices()
        found: list[PayoutChannel] = []
        for impl in reversed(pm.hook.register_payout_channels.get_hookimpls()):
            settings = plugin_settings(pm, impl.plugin_name, config)
            found.extend(call_impl(impl, settings=settings, services=services) or ())
        return cls(found)

    def get(self, channel_id: str) -> PayoutChannel:
        """The channel with this id; ChannelError if none is loaded."""
        try:
            return self._channels[channel_id]
        except KeyError:
            raise ChannelError(f"no payout channel {channel_id!r} is loaded") from None

    def all(self) -> list[PayoutChannel]:
        """Loaded channels, by id."""
        return [self._channels[cid] for cid in sorted(self._channels)]

    def ids(self) -> list[str]:
        """Loaded channel ids, sorted."""
        return sorted(self._channels)

    def __contains__(self, channel_id: object) -> bool:
        return channel_id in self._channels
