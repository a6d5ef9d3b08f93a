"""The order sources the loaded plugins register, each given its own settings."""

from __future__ import annotations

from portal.plugins.manager import call_impl
from portal.plugins.order_sources import OrderSource, OrderSourceError
from portal.services import context


def sources() -> list[OrderSource]:
    """Every order source the loaded plugins register, each given its own settings."""
    pm = context.plugin_manager()
    found: list[OrderSource] = []
    for impl in reversed(pm.hook.register_order_sources.get_hookimpls()):
        settings = context.plugin_settings(impl.plugin_name)
        found.extend(call_impl(impl, settings=settings) or ())
    ids = [s.id for s in found]
    if len(ids) != len(set(ids)):
        raise OrderSourceError(f"duplicate order source ids: {sorted(ids)}")
    return found


def source(source_id: str) -> OrderSource:
    """The loaded order source with this id; OrderSourceError if there is none."""
    for s in sources():
        if s.id == source_id:
            return s
    raise OrderSourceError(f"no order source {source_id!r} is configured")
