"""An installation's own risk signals, from plugins implementing ``assess_refund_risk``.

Asked while an application is filed, before anything is written, every plugin at once in
threads; the filing waits at most ``RISK_PLUGIN_TIMEOUT`` seconds. A plugin that raises, is
late or returns anything but a sequence of ``PluginSignal`` adds nothing (logged). What is
kept goes on the case with the other signals (``risk_plugin``, the plugin's name and its
reason in both languages); the reviewer's page reads it back from the case and never calls
a plugin again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from pluggy import HookImpl

from portal.domain.risk import Signal, SignalCode
from portal.models import Order, RefundCase
from portal.plugins.manager import call_impl
from portal.plugins.risk_signals import MAX_VALUE, PluginSignal, RiskApplication
from portal.plugins.words import Words
from portal.services import context

log = logging.getLogger(__name__)
#: signals kept per plugin, and characters per reason, at most
MAX_SIGNALS = 5
MAX_WORDS = 200


def ask(order: Order, reason: str, amount_fen: int, address: str) -> list[Signal]:
    """The risk plugins' signals for an application about to be filed (nothing written)."""
    impls = context.plugin_manager().hook.assess_refund_risk.get_hookimpls()
    if not impls:
        return []
    application = RiskApplication(
        order_no=order.order_no,
        product_sku=order.product.sku,
        reason=reason,
        amount_fen=amount_fen,
        contact=(order.buyer_contact or "").strip().lower(),
        payer_id=order.payment.payer_id if order.payment is not None else "",
        address=address,
        filed_at=context.now(),
    )
    calls: list[tuple[HookImpl, Future[Any]]] = []
    pool = ThreadPoolExecutor(max_workers=min(8, len(impls)))
    try:
        for impl in impls:
            try:
                settings = context.plugin_settings(impl.plugin_name)
            except Exception:  # noqa: BLE001 - a risk plugin never stops an application
                log.warning("risk plugin %s: settings unreadable", impl.plugin_name)
                continue
            future = pool.submit(call_impl, impl, application=application, settings=settings)
            calls.append((impl, future))
        wait([f for _, f in calls], timeout=float(context.setting("RISK_PLUGIN_TIMEOUT")))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung call is abandoned
    found: list[Signal] = []
    for impl, future in calls:
        found += _kept(impl.plugin_name, future)
    return found


def _kept(plugin: str, future: Future[Any]) -> list[Signal]:
    if not future.done():
        log.warning("risk plugin %s: no answer in time", plugin)
        return []
    try:
        returned = future.result()
    except Exception as exc:  # noqa: BLE001 - a risk plugin never stops an application
        log.warning("risk plugin %s failed: %s", plugin, type(exc).__name__)
        return []
    if not isinstance(returned, Sequence) or isinstance(returned, (str, bytes)):
        log.warning("risk plugin %s returned %s", plugin, type(returned).__name__)
        return []
    out = []
    for item in list(returned)[:MAX_SIGNALS]:
        if not _well_formed(item):
            log.warning("risk plugin %s returned a malformed signal", plugin)
            continue
        if item.value > 0:
            out.append(
                Signal(
                    SignalCode.PLUGIN,
                    item.value,
                    {
                        "plugin": plugin[:100],
                        "words_zh": _clean(item.reason.zh),
                        "words_en": _clean(item.reason.en),
                    },
                )
            )
    return out


def _well_formed(item: object) -> bool:
    return (
        isinstance(item, PluginSignal)
        and isinstance(item.value, int)
        and not isinstance(item.value, bool)
        and 0 <= item.value <= MAX_VALUE
        and isinstance(item.reason, Words)
        and isinstance(item.reason.zh, str)
        and isinstance(item.reason.en, str)
        and bool(_clean(item.reason.zh))
        and bool(_clean(item.reason.en))
    )


def _clean(text: str) -> str:
    return "".join(c for c in text if c.isprintable()).strip()[:MAX_WORDS]


def kept_on(case: RefundCase) -> list[Signal]:
    """The plugin signals kept on ``case`` when it was filed (to measure it again)."""
    out = []
    for s in case.risk_signals or []:
        if isinstance(s, dict) and s.get("code") == str(SignalCode.PLUGIN):
            value, params = s.get("value"), s.get("params")
            if isinstance(value, int) and isinstance(params, dict):
                out.append(Signal(SignalCode.PLUGIN, value, dict(params)))
    return out
