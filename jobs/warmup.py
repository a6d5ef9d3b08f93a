"""Warm the worker before it forks, so each work-horse starts ready.

RQ's default worker forks a child per job. Whatever the parent has not done, every
child does again: configuring the ORM mappers and compiling the SQL of a settlement
cost more than the settlement itself. So the parent runs one real settlement step on
throwaway rows inside a transaction that is rolled back (the use case's own commit
only releases a savepoint), which fills SQLAlchemy's compiled-statement cache that
every forked child then inherits.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Flask
from sqlalchemy.orm import Session, configure_mappers

log = logging.getLogger("portal.worker")


def warm_up(app: Flask) -> None:
    """Configure mappers and compile the settlement path's SQL; never leaves a row behind."""
    configure_mappers()
    with app.app_context():
        from portal.extensions import db

        try:
            with db.engine.connect() as conn:
                outer = conn.begin()
                session = Session(bind=conn, join_transaction_mode="create_savepoint")
                db.session.registry.set(session)
                try:
                    _one_settlement_step()
                finally:
                    session.close()
                    outer.rollback()
                    db.session.registry.clear()
        except Exception:
            log.warning("worker warm-up skipped", exc_info=True)
        finally:
            db.engine.dispose()  # no connection crosses the fork


def _one_settlement_step() -> None:
    from portal.channels import RefundResult, ResultStatus
    from portal.extensions import db
    from portal.models import Merchant, Order, Payment, Payout, Product, RefundCase
    from portal.services import settlement

    now = datetime.now(UTC)
    m = Merchant(slug="~warm-up", name="warm-up")
    db.session.add(m)
    db.session.flush()
    p = Product(merchant_id=m.id, sku="~", title="~", price_fen=1)
    db.session.add(p)
    db.session.flush()
    o = Order(
        order_no="~warm-up",
        merchant_id=m.id,
        product_id=p.id,
        buyer_contact="~",
        query_password_hash="~",  # noqa: S106 - not a password: a throwaway row
        amount_fen=1,
        paid_at=now,
    )
    db.session.add(o)
    db.session.flush()
    pay = Payment(
        order_id=o.id, channel="~", gateway_trade_id="~", merchant_trade_no="~", captured_fen=1
    )
    db.session.add(pay)
    db.session.flush()
    case = RefundCase(
        case_no="~warm-up",
        order_id=o.id,
        open_order_id=o.id,
        kind="refund_only",
        reason="unusable",
        amount_requested_fen=1,
        state="refunding",
    )
    db.session.add(case)
    db.session.flush()
    payout = Payout(
        case_id=case.id,
        order_id=o.id,
        payment_id=pay.id,
        channel="~",
        idempotency_key="~warm-up",
        amount_fen=1,
        state="created",
    )
    db.session.add(payout)
    db.session.commit()
    settlement.load(payout.id)
    db.session.rollback()
    settlement.apply_result(payout.id, RefundResult(ResultStatus.SUCCEEDED, "~"), source="warm-up")
