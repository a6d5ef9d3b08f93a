"""Checking what each plugin registers: its payout channels and its settings.

A plugin whose hook raises (reading a setting it did not declare included), whose
channel lacks a required method or an id, declares a batch capability without
:class:`~portal.plugins.channels.BatchFormat` objects, or which registers a channel
id that another plugin (or itself) also registers, is marked broken and none of its
channels is used: never a payout to a half-loaded channel.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from portal.plugins.channels import BatchExporter, BatchFormat, ChannelServices
from portal.plugins.loading import BROKEN, PluginInfo
from portal.plugins.manager import REQUIRED_CHANNEL_METHODS, ChannelRegistry, call_impl
from portal.plugins.settings import plugin_settings, settings_of


def _named(infos: dict[str, PluginInfo], name: str) -> PluginInfo:
    return infos.setdefault(name, PluginInfo(name))


def check_channels(
    pm: pluggy.PluginManager,
    config: Mapping[str, Any],
    infos: dict[str, PluginInfo],
    services: ChannelServices,
) -> ChannelRegistry:
    """The registry of channels from plugins that are not broken; problems go on ``infos``.

    Each plugin's ``register_payout_channels`` gets only the keys of ``config`` that its
    ``register_settings`` declares, and ``services``.
    """
    offered: dict[str, list[tuple[str, Any]]] = {}
    for impl in reversed(pm.hook.register_payout_channels.get_hookimpls()):
        info = _named(infos, impl.plugin_name)
        if info.status == BROKEN:
            continue  # e.g. its register_settings() failed: nothing to hand it
        try:
            settings = plugin_settings(pm, impl.plugin_name, config)
            batch = list(call_impl(impl, settings=settings, services=services) or ())
        except Exception as exc:  # noqa: BLE001 - a failing hook makes its plugin broken
            info.fail(f"register_payout_channels() failed: {type(exc).__name__}: {exc}")
            continue
        for channel in batch:
            cid = getattr(channel, "id", None)
            if not isinstance(cid, str) or not cid:
                info.fail(f"registers a channel without an id: {channel!r}")
                continue
            problem = _shape_problem(channel)
            if problem:
                info.fail(f"channel {cid!r} {problem}")
                continue
            offered.setdefault(cid, []).append((impl.plugin_name, channel))
    for cid, owners in offered.items():
        if len(owners) > 1:
            names = ", ".join(repr(name) for name, _ in owners)
            for name, _ in owners:
                infos[name].fail(f"channel id {cid!r} is registered more than once (by {names})")
    good = []
    for cid, owners in sorted(offered.items()):
        name, channel = owners[0]
        if len(owners) == 1 and infos[name].status != BROKEN:
            infos[name].channel_ids.append(cid)
            good.append(channel)
    return ChannelRegistry(good)


def _shape_problem(channel: Any) -> str:
    """What is wrong with the channel's methods ('' when nothing is)."""
    missing = [m for m in REQUIRED_CHANNEL_METHODS if not callable(getattr(channel, m, None))]
    if missing:
        return f"lacks the method(s) {', '.join(missing)}()"
    if isinstance(channel, BatchExporter):
        try:
            formats = list(channel.batch_formats())
        except Exception as exc:  # noqa: BLE001 - reported as the plugin's problem
            return f"batch_formats() failed: {type(exc).__name__}: {exc}"
        if not formats or not all(isinstance(f, BatchFormat) for f in formats):
            return (
                "exports batches but batch_formats() does not return "
                "portal.plugins.channels.BatchFormat objects"
            )
    return ""


def check_settings(pm: pluggy.PluginManager, infos: dict[str, PluginInfo]) -> None:
    """Mark plugins whose ``register_settings`` raises or returns something else broken."""
    for impl in pm.hook.register_settings.get_hookimpls():
        try:
            settings_of(impl)
        except Exception as exc:  # noqa: BLE001 - a failing hook makes its plugin broken
            _named(infos, impl.plugin_name).fail(
                f"register_settings() failed: {type(exc).__name__}: {exc}"
            )
