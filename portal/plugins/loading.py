"""Loading plugins from the ``refund_portal`` entry-point group, one by one.

Unlike ``pluggy.PluginManager.load_setuptools_entrypoints`` this loads only the
distributions on the operator's allow-list and records, per plugin, its
distribution, version and whatever went wrong (an import error does not stop the
others from loading; :func:`portal.plugins.startup.init_plugins` decides whether the
portal may start).
"""

from __future__ import annotations

import copy
import re
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from portal.plugins.markers import PROJECT

ENTRY_POINT_GROUP = PROJECT

LOADED = "loaded"
BROKEN = "broken"
NOT_ALLOWED = "not allowed"

_REPORTS: weakref.WeakKeyDictionary[pluggy.PluginManager, dict[str, PluginInfo]] = (
    weakref.WeakKeyDictionary()
)


@dataclass
class PluginInfo:
    """What the portal knows about one plugin (shown on the plugins page and by the CLI)."""

    name: str
    distribution: str = ""
    version: str = ""
    module: str = ""
    status: str = LOADED
    problems: list[str] = field(default_factory=list)
    channel_ids: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        """Mark the plugin broken because of ``problem``."""
        self.status = BROKEN
        self.problems.append(problem)

    def describe(self) -> str:
        """The plugin named for an operator: name, distribution and version."""
        if self.distribution:
            return f"plugin {self.name!r} ({self.distribution} {self.version})"
        return f"plugin {self.name!r}"


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form: ``Refund_Portal.Wechat`` -> ``refund-portal-wechat``."""
    return re.sub(r"[-_.]+", "-", name).strip().lower()


def parse_allowed(value: Any) -> frozenset[str] | None:
    """The allow-list setting (comma-separated names, or a list); None means every plugin."""
    if value is None or value == "":
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(normalize(str(item)) for item in items if str(item).strip())


def load_entry_points(
    pm: pluggy.PluginManager,
    allowed: frozenset[str] | None = None,
    eps: Iterable[EntryPoint] | None = None,
) -> list[PluginInfo]:
    """Register every allowed entry-point plugin on ``pm``; one PluginInfo per entry point."""
    infos: list[PluginInfo] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP) if eps is None else eps:
        dist = ep.dist
        info = PluginInfo(
            ep.name,
            distribution=dist.metadata["Name"] if dist is not None else "",
            version=dist.version if dist is not None else "",
            module=ep.value,
        )
        infos.append(info)
        if allowed is not None and normalize(info.distribution or ep.name) not in allowed:
            info.status = NOT_ALLOWED
            continue
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        try:
            module = ep.load()
        except Exception as exc:  # noqa: BLE001 - any import failure makes the plugin broken
            info.fail(f"cannot be imported: {type(exc).__name__}: {exc}")
            continue
        try:
            pm.register(module, name=ep.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            info.fail(f"is not a valid plugin: {exc}")
    _REPORTS.setdefault(pm, {}).update({info.name: info for info in infos})
    return infos


def plugin_infos(pm: pluggy.PluginManager) -> dict[str, PluginInfo]:
    """Every plugin: those from entry points (with their fate) and those registered in code.

    A fresh copy each time: checks made by one app do not stick to the manager.
    """
    known = copy.deepcopy(_REPORTS.get(pm, {}))
    for name, plugin in pm.list_name_plugin():
        if name not in known:
            module = getattr(plugin, "__name__", None) or type(plugin).__module__
            known[name] = PluginInfo(name, module=str(module))
    return known
