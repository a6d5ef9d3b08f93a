"""The plugin contract: every hook a plugin may implement.

Plugins are found through the ``refund_portal`` entry-point group and loaded by
:mod:`portal.plugins`. Mark implementations with ``portal.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("refund_portal")
hookimpl = pluggy.HookimplMarker("refund_portal")


@hookspec
def register_payout_channels(settings: Mapping[str, Any]) -> Iterable[Any]:
    """Return payout channel objects (``portal.channels.PayoutChannel``) to register.

    ``settings`` is the portal's read-only configuration; a channel reads its keys,
    gateway URL and credentials from it (e.g. ``settings["ALIPAY_APP_ID"]``).
    """
