"""A throwaway portal to test a supplier-check plugin through the core.

:func:`file_claim` runs the real portal (its migrations and the application service) on a
SQLite file in a temporary directory with the plugin under test as its only plugin,
configured with the settings given, files an application claiming an order's codes are
invalid, and returns the risk signals the portal kept on the case: what a reviewer is shown.
A plugin author's test asserts on those (``risk_supplier_redeemed``,
``risk_supplier_unknown``). Needs no Redis, as the channel kit's portal.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from portal import create_app
from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.models import CardCode, ListingSnapshot, Merchant, Order, Payment, Product
from portal.plugins.conformance_portal import KIT_PASSWORD, _config, _template
from portal.plugins.manager import make_plugin_manager
from portal.services.accounts.passwords import hash_password
from portal.services.refunds import cases


def file_claim(
    plugin: object,
    settings: Mapping[str, str],
    codes: Sequence[str],
    directory: Path,
    sku: str = "kit-card",
    timeout_s: float = 3,
) -> list[dict[str, Any]]:
    """File "the code does not work" on an order delivering ``codes`` of product ``sku``, on a
    portal whose only plugin is ``plugin`` (``settings`` its configuration), waiting at most
    ``timeout_s`` for the supplier; the case's risk signals as kept (code, value, params,
    level)."""
    shutil.copy(_template(), directory / "portal.sqlite3")
    config = _config(directory, None)
    pm = make_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="supplier-under-test")
    config.update(settings)
    config.update(PLUGIN_MANAGER=pm, SUPPLIER_CHECK_TIMEOUT=timeout_s)
    app = create_app(config)
    with app.app_context():
        try:
            order = _order(sku, codes)
            case = cases.apply_for_refund(
                order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 1000, "code fails")
            )
            return list(case.risk_signals or [])
        finally:
            db.session.remove()
            db.engine.dispose()


def _order(sku: str, codes: Sequence[str]) -> Order:
    tag = uuid.uuid4().hex[:10]
    merchant = Merchant(slug=f"kit{tag}", name=f"Kit shop {tag}")
    db.session.add(merchant)
    db.session.flush()
    product = Product(
        merchant_id=merchant.id, sku=sku, title="Kit card", price_fen=1000, face_value_fen=1000
    )
    db.session.add(product)
    db.session.flush()
    paid_at = datetime.now(UTC) - timedelta(hours=1)
    order = Order(
        order_no=f"K{tag}",
        merchant_id=merchant.id,
        product_id=product.id,
        buyer_contact="buyer@example.com",
        query_password_hash=hash_password(KIT_PASSWORD),
        amount_fen=1000,
        paid_at=paid_at,
        created_at=paid_at,
        delivered_at=paid_at + timedelta(minutes=1),
        goods_used=False,
    )
    db.session.add(order)
    db.session.flush()
    db.session.add(ListingSnapshot(order_id=order.id, title="Kit card", price_fen=1000))
    db.session.add(
        Payment(
            order_id=order.id,
            channel="kitpay",
            gateway_trade_id=f"T{tag}",
            merchant_trade_no=f"M{tag}",
            captured_fen=1000,
            paid_at=paid_at,
        )
    )
    db.session.add_all(
        CardCode(order_id=order.id, code=code, delivered_at=paid_at + timedelta(minutes=1))
        for code in codes
    )
    db.session.commit()
    return order
