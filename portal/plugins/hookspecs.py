"""The plugin contract: every hook a plugin may implement.

Plugins are found through the ``refund_portal`` entry-point group and loaded by
:mod:`portal.plugins.manager`. Mark implementations with ``portal.hookimpl``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("refund_portal")
hookimpl = pluggy.HookimplMarker("refund_portal")


@hookspec
def register_payout_channels(settings: Mapping[str, Any]) -> Iterable[Any]:
    """Return payout channel objects (``portal.plugins.channels.PayoutChannel``) to register.

    ``settings`` is the portal's read-only configuration; a channel reads its keys,
    gateway URL and credentials from it (e.g. ``settings["ALIPAY_APP_ID"]``).
    """


@hookspec
def send_notice(notice: Mapping[str, Any]) -> None:
    """Deliver one notice outside the portal (SMS, app push, chat...).

    ``notice`` has ``id``, ``audience`` (buyer | merchant | staff), ``kind``, ``text``
    (already translated, Chinese by default), ``case_no``, ``order_no`` and ``contact``
    (the buyer's phone or e-mail, for buyer notices). Raise to have the delivery retried;
    a notifier that takes longer than ``NOTIFIER_TIMEOUT`` seconds is abandoned and retried.
    """


@hookspec
def register_settings() -> Iterable[Any]:
    """Return the settings this plugin reads (``portal.plugins.settings.Setting`` objects).

    Declared once, they are listed on the operators' settings page (secrets only as
    "set" or "missing", never their value), checked there by their ``validator``, and
    documented for operators. Names are configuration keys without the ``PORTAL_``
    prefix (``WECHAT_MCHID`` is read from ``PORTAL_WECHAT_MCHID`` or ``portal.cfg``).
    """
