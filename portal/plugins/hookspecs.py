"""The plugin contract: every hook a plugin may implement.

Plugins are found through the ``refund_portal`` entry-point group and loaded by
:mod:`portal.plugins.manager`. Mark implementations with ``portal.hookimpl``
(``from portal import hookimpl``). An implementation may take fewer arguments than
its hook offers.

The core calls each plugin's implementation on its own, with that plugin's own
:class:`~portal.plugins.settings.PluginSettings` (the keys its ``register_settings``
declares), so pluggy hook wrappers are not supported on these hooks.
"""

from __future__ import annotations

from collections.abc import Sequence

from portal.plugins.channels import ChannelServices, PayoutChannel
from portal.plugins.markers import hookimpl, hookspec
from portal.plugins.notices import NoticeMessage
from portal.plugins.order_sources import OrderSource
from portal.plugins.risk_signals import PluginSignal, RiskApplication
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.suppliers import RedemptionAnswer, SupplierQuery

__all__ = [
    "assess_refund_risk",
    "check_supplier_redemption",
    "hookimpl",
    "hookspec",
    "register_order_sources",
    "register_payout_channels",
    "register_settings",
    "send_notice",
]


@hookspec
def register_payout_channels(
    settings: PluginSettings, services: ChannelServices
) -> Sequence[PayoutChannel]:
    """Return the payout channels this plugin offers (empty when it is not configured).

    ``settings`` holds the keys this plugin declares, as text (``settings["MYPAY_API_KEY"]``);
    ``services`` what the core lends a channel: the shared replay guard for notification
    nonces and, in development, a directory for generated keys. Raise
    ``portal.plugins.channels.ChannelError`` when the channel is configured only in part.
    """


@hookspec
def send_notice(notice: NoticeMessage, settings: PluginSettings) -> None:
    """Deliver one notice outside the portal (SMS, app push, chat...).

    ``settings`` holds the keys this plugin declares. Raise to have the delivery retried;
    a notifier that takes longer than ``NOTIFIER_TIMEOUT`` seconds is abandoned and retried.
    A notice this hook returned from is not given to it again when another channel's
    failure retries the delivery.
    """


@hookspec
def register_settings() -> Sequence[Setting]:
    """Return every setting this plugin reads.

    Declared once, they are all the plugin's hooks receive, are listed on the operators'
    settings page (secrets only as "set" or "missing", never their value), checked there by
    their ``validator``, and documented for operators. Names are configuration keys without
    the ``PORTAL_`` prefix (``WECHAT_MCHID`` is read from ``PORTAL_WECHAT_MCHID`` or
    ``portal.cfg``).
    """


@hookspec
def register_order_sources(settings: PluginSettings) -> Sequence[OrderSource]:
    """Return the shop databases this plugin reads orders from (empty when not configured).

    ``settings`` holds the keys this plugin declares. Each source's ``id`` must be unique
    and stable: the portal keeps its reading position under it. Raise
    ``portal.plugins.order_sources.OrderSourceError`` when it is configured only in part.
    """


@hookspec
def check_supplier_redemption(
    query: SupplierQuery, settings: PluginSettings
) -> RedemptionAnswer | None:
    """Ask the code's supplier whether ``query.code`` was redeemed.

    Called when a buyer claims a delivered code is invalid or not as described, once per
    delivered code (at most ``MAX_CODES`` of an order), while the application is filed.
    Return ``None`` when the code is none of your supplier's (another plugin may know it).
    Raising, returning anything but a ``RedemptionAnswer`` or taking longer than
    ``SUPPLIER_CHECK_TIMEOUT`` seconds (3 by default; the application is not held longer)
    makes the answer "unknown": it is shown to staff, never to the buyer, and never fails the
    application. ``settings`` holds the keys this plugin declares.
    """


@hookspec
def assess_refund_risk(
    application: RiskApplication, settings: PluginSettings
) -> Sequence[PluginSignal]:
    """Return this installation's own risk signals for an application being filed.

    Called once per application, before anything is written, with the other risk plugins at
    the same time; the filing waits at most ``RISK_PLUGIN_TIMEOUT`` seconds (2 by default).
    Each ``PluginSignal`` with a value above 0 is kept on the case as a ``risk_plugin``
    signal with its reason; the operator's rule for ``risk_plugin`` sets the level it raises.
    Raising, taking too long or returning anything but a sequence of ``PluginSignal`` keeps
    nothing from this plugin (it is logged): a risk plugin never stops an application.
    ``settings`` holds the keys this plugin declares.
    """
