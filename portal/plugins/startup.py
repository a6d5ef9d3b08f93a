"""Loading plugins into the app at start-up and checking the channels they register."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from redis import Redis

from portal.infra.redis_client import client_from_config, configured, settings
from portal.infra.replay import RedisReplayGuard
from portal.infra.shared_store import RedisSharedStore
from portal.plugins.channels import (
    ChannelError,
    ChannelServices,
    MemoryReplayGuard,
    MemorySharedStore,
    ReplayGuard,
    SharedStore,
)
from portal.plugins.checks import check_channels, check_settings
from portal.plugins.loading import BROKEN, PluginInfo, parse_allowed, plugin_infos
from portal.plugins.manager import ChannelRegistry, make_plugin_manager


class PluginLoadError(ChannelError):
    """A plugin is broken and the configuration does not allow starting without it."""


def init_plugins(app: Flask) -> None:
    """Load plugins, build the channel registry; a broken plugin or missing channel fails start-up.

    With ``PLUGINS_BROKEN_OK`` true the portal starts without the broken plugins (and
    shows them as broken on the plugins page); none of their channels is loaded. Each
    plugin is handed only the settings it declares, and the services as their own argument.
    """
    pm = app.config.get("PLUGIN_MANAGER") or make_plugin_manager(
        allowed=parse_allowed(app.config.get("PLUGINS_ALLOWED"))
    )
    dev_keys_dir = app.config.get("DEV_KEYS_DIR")
    services = ChannelServices(
        replay_guard=_replay_guard(app),
        dev_keys_dir=str(dev_keys_dir) if dev_keys_dir else None,
        shared_store=_shared_store(app),
    )
    infos = plugin_infos(pm)
    check_settings(pm, infos)
    registry = check_channels(pm, app.config, infos, services)
    broken = [info for info in infos.values() if info.status == BROKEN]
    if broken and not _truthy(app.config.get("PLUGINS_BROKEN_OK")):
        raise PluginLoadError(
            "; ".join(f"{i.describe()}: {'; '.join(i.problems)}" for i in broken)
            + ". Fix or uninstall it, leave it out of PORTAL_PLUGINS_ALLOWED, or set "
            "PORTAL_PLUGINS_BROKEN_OK=true to start without it."
        )
    for info in broken:
        app.logger.error("starting without %s: %s", info.describe(), "; ".join(info.problems))
    missing = [cid for cid in app.config.get("REQUIRED_CHANNELS") or [] if cid not in registry]
    if missing:
        raise ChannelError(
            "required payout channel(s) not loaded: "
            + ", ".join(missing)
            + f" (loaded: {', '.join(registry.ids()) or 'none'})"
        )
    app.extensions["portal.plugins.manager"] = pm
    app.extensions["portal.plugins.channels"] = registry
    app.extensions["portal.plugin_infos"] = infos


def channels() -> ChannelRegistry:
    """The running app's channel registry."""
    return current_app.extensions["portal.plugins.channels"]


def loaded_plugins() -> list[PluginInfo]:
    """Every plugin the running app knows of (loaded, broken or not allowed), by name."""
    return sorted(current_app.extensions["portal.plugin_infos"].values(), key=lambda i: i.name)


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def _client(redis_settings: dict[str, Any]) -> Callable[[], Redis]:
    """Makes the client on first use, from a copy of the settings (not the app)."""

    @functools.cache
    def connect() -> Redis:
        client = client_from_config(redis_settings)
        assert client is not None  # called only where Redis is configured
        return client

    return connect


def _replay_guard(app: Flask) -> ReplayGuard:
    """Redis-backed when Redis is configured (shared by all processes), else in-memory.

    The guard holds its own Redis client, made on first use, and no reference to the app:
    it is handed to plugins, which must not reach the configuration through it.
    """
    if not configured(app.config):
        return MemoryReplayGuard()
    return RedisReplayGuard(_client(settings(app.config)))


def _shared_store(app: Flask) -> SharedStore:
    """Redis-backed when Redis is configured (every process sees one copy), else in-memory;
    like the replay guard, it holds its own client and no reference to the app."""
    if not configured(app.config):
        return MemorySharedStore()
    return RedisSharedStore(_client(settings(app.config)))
