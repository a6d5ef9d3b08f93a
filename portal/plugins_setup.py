"""Loading plugins into the app at start-up and checking the channels they register."""

from __future__ import annotations

from flask import Flask

from portal.channels import ChannelError, MemoryReplayGuard, ReplayGuard
from portal.plugins import ChannelRegistry, make_plugin_manager


def init_plugins(app: Flask) -> None:
    """Load plugins, build the channel registry; a missing required channel fails start-up."""
    pm = app.config.get("PLUGIN_MANAGER") or make_plugin_manager()
    settings = dict(app.config)
    settings.setdefault("REPLAY_GUARD", _replay_guard(app))
    settings.setdefault("DEV_KEYS_DIR", app.config.get("DEV_KEYS_DIR"))
    registry = ChannelRegistry.from_plugins(pm, settings)
    missing = [cid for cid in app.config.get("REQUIRED_CHANNELS") or [] if cid not in registry]
    if missing:
        raise ChannelError(
            "required payout channel(s) not loaded: "
            + ", ".join(missing)
            + f" (loaded: {', '.join(registry.ids()) or 'none'})"
        )
    app.extensions["portal.plugins"] = pm
    app.extensions["portal.channels"] = registry


def channels() -> ChannelRegistry:
    """The running app's channel registry."""
    from flask import current_app

    return current_app.extensions["portal.channels"]


def _replay_guard(app: Flask) -> ReplayGuard:
    """Redis-backed when Redis is configured (shared by all processes), else in-memory."""
    if not app.config.get("REDIS_URL"):
        return MemoryReplayGuard()
    from portal.replay import RedisReplayGuard

    def connect():
        with app.app_context():
            from portal.queue import redis_connection

            return redis_connection()

    return RedisReplayGuard(connect)
