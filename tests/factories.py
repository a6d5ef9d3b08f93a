"""Builders for test data, going through the same models the portal uses."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from portal.extensions import db
from portal.models import CardCode, ListingSnapshot, Merchant, Order, Payment, Product
from portal.services.accounts.passwords import hash_password
from portal.services.accounts.staff import create_staff_user

_seq = itertools.count(1)
PASSWORD = "query-pass"
CONTACT = "buyer@example.com"


def merchant(slug: str | None = None) -> Merchant:
    n = next(_seq)
    m = Merchant(slug=slug or f"m{n}", name=f"Merchant {n}")
    db.session.add(m)
    db.session.flush()
    return m


def product(m: Merchant, **kw) -> Product:
    n = next(_seq)
    p = Product(
        merchant_id=m.id,
        sku=kw.pop("sku", f"sku{n}"),
        title=kw.pop("title", f"Card {n}"),
        price_fen=kw.pop("price_fen", 10000),
        face_value_fen=kw.pop("face_value_fen", 10000),
        **kw,
    )
    db.session.add(p)
    db.session.flush()
    return p


def order(
    now: datetime,
    *,
    m: Merchant | None = None,
    p: Product | None = None,
    amount_fen: int = 10000,
    paid_ago: timedelta = timedelta(days=1),
    delivered_after: timedelta | None = timedelta(minutes=1),
    channel: str = "fakepay",
    used: bool = False,
    cancelled: bool = False,
    codes: int = 1,
    extra: dict | None = None,
) -> Order:
    m = m or merchant()
    p = p or product(m, price_fen=amount_fen)
    paid_at = now - paid_ago
    n = next(_seq)
    o = Order(
        order_no=f"T{n:06d}",
        merchant_id=m.id,
        product_id=p.id,
        buyer_contact=CONTACT,
        query_password_hash=hash_password(PASSWORD),
        amount_fen=amount_fen,
        paid_at=paid_at,
        created_at=paid_at,
        delivered_at=paid_at + delivered_after if delivered_after is not None else None,
        cancelled_at=paid_at + timedelta(minutes=30) if cancelled else None,
        goods_used=used,
    )
    db.session.add(o)
    db.session.flush()
    db.session.add(
        ListingSnapshot(
            order_id=o.id, title=p.title, face_value_fen=p.face_value_fen, price_fen=p.price_fen
        )
    )
    db.session.add(
        Payment(
            order_id=o.id,
            channel=channel,
            gateway_trade_id=f"GW{n:08d}",
            merchant_trade_no=f"PAY{n:08d}",
            captured_fen=amount_fen,
            paid_at=paid_at,
            extra=extra or {},
        )
    )
    if o.delivered_at:
        for i in range(codes):
            db.session.add(
                CardCode(order_id=o.id, code=f"CODE-{n}-{i}", delivered_at=o.delivered_at)
            )
    db.session.commit()
    return o


def staff(username: str = "rev1", role: str = "reviewer", merchant_slug: str | None = None):
    return create_staff_user(username, "password-123", role, merchant_slug)
