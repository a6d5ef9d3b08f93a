"""Many new orders coming in at once (an order source's batch), set-based.

The same rows and events ``ingest.add_order`` and ``ingest.add_codes`` write one order at a
time: the order, its listing snapshot and payment, the codes delivered with it, an
``order_received`` event and, when codes came, a ``delivered`` event. Here each table gets
one bulk insert for the whole batch (``bulk_rows``: a COPY on PostgreSQL, multi-row VALUES
elsewhere), and the batch's events are linked into their chains by one
``transitions.record_batch`` call.
No commit: the caller commits the batch with its reading position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert

from portal.extensions import db
from portal.models import CardCode, ListingSnapshot, Order, Payment, Product
from portal.services import bulk_rows, context
from portal.services.accounts.passwords import hash_password
from portal.services.actors import Actor
from portal.services.integration.api_schema import OrderIn
from portal.services.integration.ingest import content_print, payer_id
from portal.services.refunds.transitions import record_batch

ORDERS = Order.__table__
SNAPSHOTS = ListingSnapshot.__table__
PAYMENTS = Payment.__table__
CODES = CardCode.__table__


@dataclass(frozen=True)
class NewOrder:
    """An order to add: its data as the ingest API takes it, its product, and the delivery
    that came with it (``delivered``: codes, possibly none, delivered at ``delivered_at``)."""

    data: OrderIn
    product: Product
    #: the order source that keeps the query password (no hash is made here), or None
    password_source: str | None = None
    delivered: bool = False
    delivered_at: datetime | None = None
    codes: tuple[str, ...] = ()


def add_orders(merchant_id: int, items: Sequence[NewOrder], actor: Actor) -> dict[str, int]:
    """Add the orders (numbers not yet in the shop, each once) with their snapshots,
    payments, codes and events to the session's transaction; their ids by number."""
    if not items:
        return {}
    db.session.flush()  # new products get their ids
    now = context.now()
    order_rows = [_order_row(merchant_id, item, now) for item in items]
    if bulk_rows.on_postgresql():  # ids first, then one COPY
        for row, order_id in zip(
            order_rows, bulk_rows.next_ids(ORDERS, len(order_rows)), strict=True
        ):
            row["id"] = order_id
        bulk_rows.insert_rows(ORDERS, order_rows)
        ids = {row["order_no"]: row["id"] for row in order_rows}
    else:
        returning = insert(ORDERS).returning(ORDERS.c.id, ORDERS.c.order_no)
        ids = {no: order_id for order_id, no in db.session.execute(returning, order_rows)}
    snapshots, payments, codes, events = [], [], [], []
    for item in items:
        order_id, data = ids[item.data.order_no], item.data
        snapshots.append(_snapshot_row(order_id, item))
        pay = data.payment
        payments.append(
            {
                "order_id": order_id,
                "channel": pay.channel,
                "gateway_trade_id": pay.gateway_trade_id,
                "merchant_trade_no": pay.merchant_trade_no,
                "captured_fen": pay.captured_fen,
                "currency": "CNY",
                "paid_at": data.paid_at,
                "extra": dict(pay.extra),
                "payer_id": payer_id(pay.extra),
            }
        )
        events.append(
            {
                "kind": "order_received",
                "order_id": order_id,
                "data": {"amount_fen": data.amount_fen},
            }
        )
        if item.delivered:
            new = list(dict.fromkeys(item.codes))
            when = item.delivered_at or now
            codes += [_code_row(order_id, code, when) for code in new]
            if new:
                events.append(
                    {"kind": "delivered", "order_id": order_id, "data": {"codes": len(new)}}
                )
    bulk_rows.insert_rows(SNAPSHOTS, snapshots)
    bulk_rows.insert_rows(PAYMENTS, payments)
    bulk_rows.insert_rows(CODES, codes)
    record_batch(actor, events, new_owners=True)  # the orders are this transaction's own
    return ids


def _order_row(merchant_id: int, item: NewOrder, now: datetime) -> dict[str, Any]:
    data = item.data
    if item.password_source is not None:
        password_hash = ""  # the source keeps it (source_passwords checks it at lookup)
    else:
        password_hash = data.query_password_hash or hash_password(data.query_password)
    return {
        "order_no": data.order_no,
        "merchant_id": merchant_id,
        "product_id": item.product.id,
        "buyer_contact": data.buyer_contact,
        "query_password_hash": password_hash,
        "password_source": item.password_source,
        "quantity": data.quantity,
        "amount_fen": data.amount_fen,
        "currency": "CNY",
        "created_at": data.paid_at,
        "paid_at": data.paid_at,
        "delivered_at": (item.delivered_at or now) if item.delivered else None,
        "cancelled_at": None,
        "cancel_reason": "",
        "goods_used": False,
        "goods_used_at": None,
        "source_print": content_print(data),
        "erased_at": None,
    }


def _snapshot_row(order_id: int, item: NewOrder) -> dict[str, Any]:
    listing, product = item.data.listing, item.product
    return {
        "order_id": order_id,
        "title": listing.title if listing else product.title,
        "description": listing.description if listing else product.description,
        "face_value_fen": listing.face_value_fen if listing else product.face_value_fen,
        "price_fen": listing.price_fen if listing else product.price_fen,
        "policy_text": listing.policy_text if listing else product.policy_text,
        "taken_at": item.data.paid_at,
    }


def _code_row(order_id: int, code: str, when: datetime) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "code": code,
        "delivered_at": when,
        "first_revealed_at": None,
        "returned_at": None,
    }
