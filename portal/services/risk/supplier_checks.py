"""Asking card suppliers, through plugins, whether the codes of an order were redeemed.

Asked while an application is filed, before anything is written (the calls hold no lock),
only for claims that a code does not work and only when a plugin implements
``check_supplier_redemption``. Every call of every code runs at once in threads, and the
filing waits at most ``SUPPLIER_CHECK_TIMEOUT`` seconds for all of them: a call still
running then is abandoned and its answer is "unknown" (timeout), as is one that raised or
returned anything but a ``RedemptionAnswer``. The answers are kept on the case
(``supplier_checks``), so the reviewer's page reads them and never calls a supplier.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime

from pluggy import HookImpl

from portal.domain import risk
from portal.domain.supplier_checks import MAX_CODES, MAX_SUPPLIER_CHARS, Redemption, UnknownWhy
from portal.extensions import db
from portal.models import Order, RefundCase, SupplierCheck
from portal.plugins.manager import call_impl
from portal.plugins.suppliers import RedemptionAnswer, SupplierQuery
from portal.services import context

log = logging.getLogger(__name__)
#: threads asking suppliers at once, at most
MAX_THREADS = 8


@dataclass(frozen=True)
class Asked:
    """One plugin's answer about one code, as it will be kept."""

    code_id: int
    plugin: str
    supplier: str
    status: Redemption
    why: UnknownWhy
    redeemed_at: datetime | None


def ask(order: Order, reason: str) -> list[Asked]:
    """Ask every supplier plugin about the order's delivered codes (nothing is written)."""
    if reason not in {str(r) for r in risk.CODE_CLAIMS}:
        return []
    impls = context.plugin_manager().hook.check_supplier_redemption.get_hookimpls()
    codes = [c for c in order.codes if c.returned_at is None][:MAX_CODES]
    if not impls or not codes:
        return []
    timeout = float(context.setting("SUPPLIER_CHECK_TIMEOUT"))
    calls: list[tuple[int, HookImpl, Future[object]]] = []
    pool = ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(impls) * len(codes)))
    try:
        for impl in impls:
            try:
                settings = context.plugin_settings(impl.plugin_name)
            except Exception:  # noqa: BLE001 - a plugin's failure is "unknown", never fatal
                log.warning("supplier plugin %s: settings unreadable", impl.plugin_name)
                continue
            for code in codes:
                query = SupplierQuery(
                    order_no=order.order_no,
                    product_sku=order.product.sku,
                    code=code.code,
                    delivered_at=code.delivered_at,
                )
                future = pool.submit(call_impl, impl, query=query, settings=settings)
                calls.append((code.id, impl, future))
        wait([f for _, _, f in calls], timeout=timeout)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # a hung call is abandoned
    found = [_asked(code_id, impl.plugin_name, future) for code_id, impl, future in calls]
    return [a for a in found if a is not None]


def _asked(code_id: int, plugin: str, future: Future[object]) -> Asked | None:
    """One call's outcome (None: the code is not this plugin's supplier's)."""

    def unknown(why: UnknownWhy) -> Asked:
        return Asked(code_id, plugin, "", Redemption.UNKNOWN, why, None)

    if not future.done():
        log.warning("supplier plugin %s: no answer in time", plugin)
        return unknown(UnknownWhy.TIMEOUT)
    try:
        answer = future.result()
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is "unknown", never fatal
        log.warning("supplier plugin %s failed: %s", plugin, type(exc).__name__)
        return unknown(UnknownWhy.FAILED)
    if answer is None:
        return None
    if not _well_formed(answer):
        log.warning("supplier plugin %s returned %s", plugin, type(answer).__name__)
        return unknown(UnknownWhy.BAD_ANSWER)
    assert isinstance(answer, RedemptionAnswer)
    status = Redemption(answer.status)
    supplier = "".join(c for c in answer.supplier if c.isprintable()).strip()
    supplier = supplier[:MAX_SUPPLIER_CHARS]
    redeemed_at = answer.redeemed_at if status == Redemption.REDEEMED else None
    why = UnknownWhy.SUPPLIER if status == Redemption.UNKNOWN else UnknownWhy.ANSWERED
    return Asked(code_id, plugin, supplier, status, why, redeemed_at)


def _well_formed(answer: object) -> bool:
    """Whether a plugin's return value is an answer the portal can keep."""
    if not isinstance(answer, RedemptionAnswer) or not isinstance(answer.supplier, str):
        return False
    if answer.status not in set(Redemption):
        return False
    at = answer.redeemed_at
    return at is None or (isinstance(at, datetime) and at.tzinfo is not None)


def keep(case: RefundCase, asked: list[Asked]) -> None:
    """Add the answers to the case (in the caller's transaction, before it is assessed)."""
    db.session.add_all(
        SupplierCheck(
            case_id=case.id,
            code_id=a.code_id,
            plugin=a.plugin[:100],
            supplier=a.supplier,
            status=str(a.status),
            why=str(a.why),
            redeemed_at=a.redeemed_at,
            checked_at=context.now(),
        )
        for a in asked
    )
