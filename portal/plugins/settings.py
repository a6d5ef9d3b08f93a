"""Settings a plugin declares (``register_settings``) and their state in the running config.

A plugin declares each key it reads once, as a :class:`Setting`. The portal lists them
for operators (a secret only as "set" or "missing", never its value) and checks values
with the setting's ``validator``. Values come from the configuration: ``portal.cfg`` or
``PORTAL_<NAME>`` environment variables.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

Validator = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration key a plugin reads.

    ``validator(text)`` raises ``ValueError`` with a message an operator understands
    when ``text`` is not an acceptable value.
    """

    name: str
    label: str
    secret: bool = False
    required: bool = False
    validator: Validator | None = None
    help: str = ""
    default: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.isupper():
            raise ValueError(f"setting name {self.name!r} must be UPPER_CASE letters and digits")

    def check(self, value: Any) -> str:
        """The problem with ``value`` ('' when there is none)."""
        text = "" if value is None else str(value).strip()
        if not text:
            return "required" if self.required else ""
        if self.validator is None:
            return ""
        try:
            self.validator(text)
        except ValueError as exc:
            return str(exc) or "invalid value"
        return ""


@dataclass(frozen=True, slots=True)
class SettingState:
    """A declared setting as the running portal sees it (safe to show an operator)."""

    plugin: str
    setting: Setting
    shown: str  # the value, or "set" / "missing" for a secret
    is_set: bool
    problem: str


def settings_of(impl: Any) -> list[Setting]:
    """The settings one ``register_settings`` implementation declares; TypeError if not Settings."""
    found = list(impl.function() or ())
    for setting in found:
        if not isinstance(setting, Setting):
            raise TypeError(
                f"plugin {impl.plugin_name!r}: register_settings() must return "
                f"portal.plugins.settings.Setting objects, got {setting!r}"
            )
    return found


def declared_settings(
    pm: pluggy.PluginManager, skip: Collection[str] = ()
) -> list[tuple[str, Setting]]:
    """(plugin name, setting) for every ``register_settings`` implementation not in ``skip``."""
    found: list[tuple[str, Setting]] = []
    for impl in reversed(pm.hook.register_settings.get_hookimpls()):
        if impl.plugin_name not in skip:
            found.extend((impl.plugin_name, setting) for setting in settings_of(impl))
    return found


def setting_states(
    pm: pluggy.PluginManager, config: Mapping[str, Any], skip: Collection[str] = ()
) -> list[SettingState]:
    """The declared settings with their current value (secrets masked) and any problem."""
    states = []
    for plugin, setting in declared_settings(pm, skip):
        value = config.get(setting.name)
        is_set = value not in (None, "")
        if setting.secret:
            shown = "set" if is_set else "missing"
        else:
            shown = str(value) if is_set else (setting.default or "")
        problem = setting.check(value)
        if setting.secret and is_set and str(value).strip() in problem:
            problem = "invalid value"  # a validator's message must never show a secret back
        states.append(SettingState(plugin, setting, shown, is_set, problem))
    return states
