"""What use cases read from the running app: the clock, the calendar, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app

from portal.domain.calendar import WorkingCalendar, from_config


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


def setting(name: str) -> Any:
    """A configuration value."""
    return current_app.config[name]
