"""What use cases read from the running app: the clock, the calendar, settings, its folders.

The one module of ``portal.services`` that touches ``current_app``: every other service asks
here, so a use case names what it needs from the app and tests can see it in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from flask import current_app

from portal.domain.calendar import WorkingCalendar, from_config
from portal.plugins.settings import PluginSettings
from portal.plugins.settings import plugin_settings as _plugin_settings

if TYPE_CHECKING:
    import pluggy

_REQUIRED = object()
T = TypeVar("T")


def now() -> datetime:
    """The current time (aware UTC); tests replace ``app.extensions['portal.clock']``."""
    clock = current_app.extensions.get("portal.clock")
    return clock() if clock else datetime.now(UTC)


def calendar() -> WorkingCalendar:
    """The working-day calendar, built once per app from its configuration."""
    cal = current_app.extensions.get("portal.calendar")
    if cal is None:
        cal = from_config(current_app.config)
        current_app.extensions["portal.calendar"] = cal
    return cal


def setting(name: str, default: Any = _REQUIRED) -> Any:
    """A configuration value; without ``default`` a missing one raises ``KeyError``."""
    if default is _REQUIRED:
        return current_app.config[name]
    return current_app.config.get(name, default)


def instance_path() -> Path:
    """The app's instance folder (files the portal writes: uploads, imports, the SQLite file)."""
    return Path(current_app.instance_path)


def plugin_manager() -> pluggy.PluginManager:
    """The running app's plugin manager (for calling hooks such as ``send_notice``)."""
    return current_app.extensions["portal.plugins.manager"]


def plugin_settings(plugin: str) -> PluginSettings:
    """What one plugin may read of the configuration: the keys it declares, nothing else."""
    return _plugin_settings(plugin_manager(), plugin, current_app.config)


def cached(key: str, make: Callable[[], T]) -> T:
    """``make()``'s result, made once per app and kept in its extensions under ``key``."""
    found = current_app.extensions.get(key)
    if found is None:
        found = make()
        current_app.extensions[key] = found
    return found
