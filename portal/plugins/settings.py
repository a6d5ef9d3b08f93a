"""Settings a plugin declares (``register_settings``), what each plugin is handed, their state.

A plugin declares each key it reads once, as a :class:`Setting`. The portal lists them
for operators (a secret only as "set" or "missing", never its value) and checks values
with the setting's ``validator``. Values come from the configuration: ``portal.cfg`` or
``PORTAL_<NAME>`` environment variables. A plugin's hooks receive its own
:class:`PluginSettings`: the keys it declared and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar, overload

import pluggy

from portal.plugins.words import Words

T = TypeVar("T")
#: what a validator's problem or a label may be: Words (both languages), or plain text
Text = str | Words
#: problems the portal itself reports, as codes the settings page translates
REQUIRED = "required"
INVALID = "invalid value"
Validator = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Setting:
    """One configuration key a plugin reads.

    ``label`` and ``help`` are :class:`Words` (Chinese and English). ``validator(text)``
    raises ``ValueError(Words(...))`` with a message an operator understands when ``text`` is
    not an acceptable value.
    """

    name: str
    label: Text
    secret: bool = False
    required: bool = False
    validator: Validator | None = None
    help: Text = ""
    default: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.isupper():
            raise ValueError(f"setting name {self.name!r} must be UPPER_CASE letters and digits")

    def check(self, value: Any) -> Text:
        """The problem with ``value`` ('' when there is none): the validator's message, or
        :data:`REQUIRED` / :data:`INVALID`."""
        text = "" if value is None else str(value).strip()
        if not text:
            return REQUIRED if self.required else ""
        if self.validator is None:
            return ""
        try:
            self.validator(text)
        except ValueError as exc:
            message = exc.args[0] if exc.args else ""
            return message if isinstance(message, Words) else (str(message) or INVALID)
        return ""


@dataclass(frozen=True, slots=True)
class SettingState:
    """A declared setting as the running portal sees it (safe to show an operator)."""

    plugin: str
    setting: Setting
    shown: str  # the value, or "set" / "missing" for a secret
    is_set: bool
    problem: Text


class UndeclaredSetting(KeyError):
    """A plugin asked for a key it did not declare in ``register_settings``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "undeclared setting"


class PluginSettings(Mapping[str, str]):
    """The settings one plugin declared, read-only, each value as text.

    A declared key that is unset (or empty) is absent: ``get`` gives ``None``. Asking for a
    key the plugin did not declare (``settings["SECRET_KEY"]``, ``settings.get(...)``)
    raises :class:`UndeclaredSetting`, so a forgotten declaration shows at start-up; ``in``
    answers False. Only the declared values are copied in: nothing else of the portal's
    configuration is reachable from this object, and its ``repr`` names keys, never values.
    """

    __slots__ = ("_declared", "_plugin", "_values")

    def __init__(
        self, values: Mapping[str, Any], declared: Iterable[str] | None = None, plugin: str = ""
    ) -> None:
        names = frozenset(values if declared is None else declared)
        self._declared = names
        self._plugin = plugin
        self._values = MappingProxyType(
            {name: str(values[name]) for name in sorted(names) if _is_set(values.get(name))}
        )

    @property
    def declared(self) -> frozenset[str]:
        """Every key the plugin declared (set or not)."""
        return self._declared

    def _check(self, name: object) -> None:
        if name not in self._declared:
            who = f"plugin {self._plugin!r}" if self._plugin else "this plugin"
            raise UndeclaredSetting(
                f"{who} read the setting {name!r}, which its register_settings() does not "
                "declare; declare every key it reads"
            )

    def __getitem__(self, name: str) -> str:
        self._check(name)
        return self._values[name]

    @overload
    def get(self, name: str, /) -> str | None: ...

    @overload
    def get(self, name: str, /, default: str | T) -> str | T: ...

    def get(self, name: str, /, default: object = None) -> object:
        """The value of a declared key, ``default`` when unset; UndeclaredSetting otherwise."""
        self._check(name)
        return self._values.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"PluginSettings(plugin={self._plugin!r}, set={sorted(self._values)})"


def _is_set(value: Any) -> bool:
    return value not in (None, "")


def plugin_settings(
    pm: pluggy.PluginManager, plugin: str, config: Mapping[str, Any]
) -> PluginSettings:
    """What ``plugin`` may read of ``config``: the keys its ``register_settings`` declares."""
    declared = [
        setting.name
        for impl in pm.hook.register_settings.get_hookimpls()
        if impl.plugin_name == plugin
        for setting in settings_of(impl)
    ]
    return PluginSettings(config, declared, plugin)


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


def _shows(problem: Text, secret: str) -> bool:
    texts = (problem.zh, problem.en) if isinstance(problem, Words) else (problem,)
    return any(secret in t for t in texts)


def setting_states(
    pm: pluggy.PluginManager, config: Mapping[str, Any], skip: Collection[str] = ()
) -> list[SettingState]:
    """The declared settings with their current value (secrets masked) and any problem."""
    states = []
    for plugin, setting in declared_settings(pm, skip):
        value = config.get(setting.name)
        is_set = _is_set(value)
        if setting.secret:
            shown = "set" if is_set else "missing"
        else:
            shown = str(value) if is_set else (setting.default or "")
        problem = setting.check(value)
        if setting.secret and is_set and _shows(problem, str(value).strip()):
            problem = INVALID  # a validator's message must never show a secret back
        states.append(SettingState(plugin, setting, shown, is_set, problem))
    return states
