"""Orders coming in from the shop: paid orders, deliveries of card codes, use, cancellation.

Each use case commits once. Writes are idempotent by the shop's own order number: an
order sent again with the same contents is the same order; with other contents, a conflict.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select

from portal.domain.states import Role
from portal.extensions import db
from portal.models import CardCode, ListingSnapshot, Order, Payment, Product, RefundCase
from portal.services import context
from portal.services.accounts.passwords import hash_password
from portal.services.actors import Actor
from portal.services.errors import ConcurrentChange, NotFound
from portal.services.integration.api_schema import OrderIn
from portal.services.policy_text import N_
from portal.services.refunds import cancellations
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit


def shop_actor(merchant_id: int, label: str = "shop") -> Actor:
    """The merchant's shop acting through the API or an import."""
    return Actor(Role.MERCHANT, label=label, merchant_id=merchant_id)


def own_order(merchant_id: int, order_no: str) -> Order:
    """The merchant's order with this number; another shop's order does not exist here."""
    order = db.session.scalar(
        select(Order).where(Order.merchant_id == merchant_id, Order.order_no == order_no)
    )
    if order is None:
        raise NotFound(N_("Order not found."), rule="order")
    return order


def content_print(data: OrderIn) -> str:
    """What makes two submissions of one order the same order (the password is left out:
    its hash differs on every submission)."""
    fields = data.model_dump(mode="json", exclude={"query_password", "query_password_hash"})
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def create_order(merchant_id: int, data: OrderIn, actor: Actor) -> tuple[Order, bool]:
    """Save a paid order; (order, True) if new, (order, False) if it was already here."""
    existing = db.session.scalar(
        select(Order).where(Order.merchant_id == merchant_id, Order.order_no == data.order_no)
    )
    if existing is not None:
        return _same_or_conflict(merchant_id, existing, data), False
    order = commit(lambda: add_order(merchant_id, data, actor))
    return order, True


def _same_or_conflict(merchant_id: int, order: Order, data: OrderIn) -> Order:
    if order.source_print != content_print(data):
        raise ConcurrentChange(
            N_("Order %(order_no)s was already received with other contents."),
            rule="order_conflict",
            order_no=data.order_no,
        )
    return order


def product_for(merchant_id: int, data: OrderIn) -> Product:
    """The merchant's product with this SKU, created or updated from the order's product."""
    p = data.product
    product = db.session.scalar(
        select(Product).where(Product.merchant_id == merchant_id, Product.sku == p.sku)
    )
    if product is None:
        product = Product(merchant_id=merchant_id, sku=p.sku)
        db.session.add(product)
    set_product(product, data)
    db.session.flush()
    return product


def set_product(product: Product, data: OrderIn) -> None:
    """Set the product's fields from the order's product (no flush)."""
    p = data.product
    product.title, product.description = p.title, p.description
    product.face_value_fen, product.price_fen = p.face_value_fen, p.price_fen
    product.delivery_type, product.delivery_sla_minutes = p.delivery_type, p.delivery_sla_minutes
    product.refund_window_days, product.policy_text = p.refund_window_days, p.refund_policy
    product.policy_overrides_window = p.policy_overrides_window


def add_order(
    merchant_id: int, data: OrderIn, actor: Actor, product: Product | None = None
) -> Order:
    """Add the order, its listing snapshot and payment to the session (no commit)."""
    product = product or product_for(merchant_id, data)
    password_hash = data.query_password_hash or hash_password(data.query_password)
    order = Order(
        order_no=data.order_no,
        merchant_id=merchant_id,
        product_id=product.id,
        buyer_contact=data.buyer_contact,
        query_password_hash=password_hash,
        quantity=data.quantity,
        amount_fen=data.amount_fen,
        created_at=data.paid_at,
        paid_at=data.paid_at,
        source_print=content_print(data),
        codes=[],  # a new order has none: its delivery need not read them
    )
    db.session.add(order)
    db.session.flush()
    listing = data.listing
    db.session.add(
        ListingSnapshot(
            order_id=order.id,
            title=listing.title if listing else product.title,
            description=listing.description if listing else product.description,
            face_value_fen=listing.face_value_fen if listing else product.face_value_fen,
            price_fen=listing.price_fen if listing else product.price_fen,
            policy_text=listing.policy_text if listing else product.policy_text,
            taken_at=data.paid_at,
        )
    )
    pay = data.payment
    db.session.add(
        Payment(
            order_id=order.id,
            channel=pay.channel,
            gateway_trade_id=pay.gateway_trade_id,
            merchant_trade_no=pay.merchant_trade_no,
            captured_fen=pay.captured_fen,
            paid_at=data.paid_at,
            extra=dict(pay.extra),
            payer_id=payer_id(pay.extra),
        )
    )
    record("order_received", actor, order_id=order.id, data={"amount_fen": data.amount_fen})
    return order


#: the keys under which a shop forwards the payer id its gateway reported (Alipay's buyer_id
#: or buyer_open_id, WeChat Pay's openid), in the order they are looked for
PAYER_KEYS = ("buyer_id", "buyer_open_id", "openid")


def payer_id(extra: dict[str, str]) -> str:
    """The payer's account id among a payment's extra fields, or ""."""
    for key in PAYER_KEYS:
        value = str(extra.get(key) or "").strip()
        if value:
            return value[:64]
    return ""


def deliver(order: Order, codes: list[str], delivered_at: datetime | None, actor: Actor) -> Order:
    """Record card codes delivered on the order (codes already there are not added again)."""
    if order.cancelled_at is not None:
        raise ConcurrentChange(N_("The order was cancelled."), rule="cancelled")

    result = commit(lambda: add_codes(order, codes, delivered_at, actor))
    db.session.refresh(order)
    return result


def add_codes(order: Order, codes: list[str], delivered_at: datetime | None, actor: Actor) -> Order:
    """Add the delivery to the session (no commit): new codes, the delivery time, its event."""
    when = delivered_at or context.now()
    have = {c.code for c in order.codes}
    new = [c for c in dict.fromkeys(codes) if c not in have]
    for code in new:
        db.session.add(CardCode(order_id=order.id, code=code, delivered_at=when))
    if order.delivered_at is None:
        order.delivered_at = when
    if new:
        record("delivered", actor, order_id=order.id, data={"codes": len(new)})
    return order


def mark_used(order: Order, used_at: datetime | None, actor: Actor) -> Order:
    """The buyer activated or used the goods; sending it again changes nothing."""
    if order.goods_used:
        return order

    def work() -> Order:
        order.goods_used = True
        order.goods_used_at = used_at or context.now()
        record("goods_used", actor, order_id=order.id)
        return order

    return commit(work)


def cancel(order: Order, reason: str, actor: Actor) -> RefundCase | None:
    """Cancel the order; what was paid is refunded automatically along the original route."""
    if order.goods_used and order.cancelled_at is None:
        raise ConcurrentChange(
            N_("The goods were already used; the order cannot be cancelled."), rule="used"
        )
    return cancellations.cancel_order(order, reason, actor)
