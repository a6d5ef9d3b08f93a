"""Warm the worker before it forks, so each work-horse starts ready.

RQ's default worker forks a child per job; whatever the parent has not done, every
child does again: configuring the ORM mappers, compiling each SQL statement, the first
run of each ORM persistence path, importing modules used lazily. Together these cost
more than a settlement itself, so the parent does them once here:

- the settlement's reads (plain SQL rows) run against an id that does not exist;
- OpenSSL's RSA signing is initialised with a throwaway key;
- the settlement's writes are *rehearsed*: a synthetic payout is created and settled
  inside one transaction that is always rolled back. Nothing is committed, so nothing
  is seen by anyone else, and no after-commit action (jobs, deliveries) runs.
"""

from __future__ import annotations

import importlib
import logging
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from flask import Flask
from sqlalchemy.orm import configure_mappers

from portal.domain.payout_states import PayoutState
from portal.domain.policy import Kind, Reason
from portal.domain.states import State
from portal.extensions import db
from portal.models import Merchant, Order, Payment, Payout, Product, RefundCase
from portal.plugins.channels import RefundResult, ResultStatus
from portal.services import context
from portal.services.integration import webhooks
from portal.services.money import settlement

log = logging.getLogger("portal.worker")

#: modules the settlement path imports on first use
LAZY_IMPORTS = (
    "smtplib",
    "email.generator",
    "portal.services.messaging.delivery",
    "portal.views.labels",
)


def warm_up(app: Flask) -> None:
    """Configure mappers, compile the settlement path's reads and rehearse its writes."""
    configure_mappers()
    for module in LAZY_IMPORTS:
        importlib.import_module(module)
    warm_crypto()
    with app.app_context():
        try:
            settlement.load(-1)
            settlement.read_payout(-1)
            db.session.rollback()
            rehearse_settlement()
            db.session.remove()
            with db.engine.connect():  # a pooled checkout: its liveness ping is compiled here
                pass
        except Exception:
            log.warning("worker warm-up skipped", exc_info=True)
        finally:
            db.session.rollback()
            db.session.remove()
            # no connection crosses the fork; the pool stays, so its once-only set-up on first
            # connect (WAL) is not repeated by every work-horse
            db.engine.pool.dispose()


def warm_crypto() -> None:
    """Sign and verify once with a throwaway RSA key (SHA-256, PKCS#1 v1.5, as the gateways do).

    OpenSSL looks up and initialises its algorithm implementations on first use; done in
    the parent, each work-horse's first request signature is about a millisecond cheaper.
    The channels' own keys are not used here: no state derived from them (blinding
    factors) is shared between work-horses.
    """
    # S505 is deliberate: the key signs one constant and is thrown away; only OpenSSL is warmed
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505
    signature = key.sign(b"warm-up", padding.PKCS1v15(), hashes.SHA256())
    key.public_key().verify(signature, b"warm-up", padding.PKCS1v15(), hashes.SHA256())


def rehearse_settlement() -> None:
    """Settle a synthetic payout inside a transaction, then roll the transaction back.

    Runs the same code as a real success (payout compare-and-set, ledger, events, the
    case's transition, notices, the webhook outbox's query) so its statements are compiled
    once, in the parent.
    """
    tag = f"warmup-{uuid.uuid4().hex[:16]}"
    now = context.now()
    session = db.session
    try:
        merchant = Merchant(slug=tag[:40], name=tag)
        session.add(merchant)
        session.flush()
        product = Product(merchant_id=merchant.id, sku=tag, title=tag, price_fen=1)
        session.add(product)
        session.flush()
        order = Order(
            order_no=tag,
            merchant_id=merchant.id,
            product_id=product.id,
            buyer_contact=tag,
            query_password_hash="!",  # noqa: S106 - matches no password: nobody can log in
            amount_fen=1,
            created_at=now,
            paid_at=now,
        )
        session.add(order)
        session.flush()
        payment = Payment(
            order_id=order.id,
            channel="warmup",
            gateway_trade_id=tag,
            merchant_trade_no=tag,
            captured_fen=1,
            paid_at=now,
        )
        session.add(payment)
        session.flush()
        case = RefundCase(
            case_no=tag[:32],
            order_id=order.id,
            kind=str(Kind.REFUND_ONLY),
            reason=str(Reason.OTHER),
            amount_requested_fen=1,
            amount_approved_fen=1,
            state=str(State.REFUNDING),
        )
        session.add(case)
        session.flush()
        payout = Payout(
            case_id=case.id,
            order_id=order.id,
            payment_id=payment.id,
            channel="warmup",
            idempotency_key=tag,
            amount_fen=1,
        )
        session.add(payout)
        session.flush()
        seen = settlement.Seen.of(payout)
        result = RefundResult(ResultStatus.SUCCEEDED, tag, "warm-up", raw={})
        if not settlement.write_result(seen, PayoutState.SUCCEEDED, result, "call", None):
            raise RuntimeError("rehearsal payout changed under us")
        # the outbox's query runs just before a commit, which the rehearsal never reaches
        webhooks.active_endpoints(session(), {order.id})
    finally:
        session.rollback()
