"""Stored password hashes over the verification bound: which rows, and a new query password.

A stored hash is verified only within the bound (``passwords.stored_hash_problem``); rows
written before the bound existed, or edited in the database, may hold more, and then nobody
can sign in with them. The operator lists them (``refund-portal password-hashes``) and
replaces each: a staff login's password with ``refund-portal set-password``, an order's query
password with ``refund-portal set-query-password`` (then tells the buyer).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.extensions import db
from portal.models import Merchant, Order, User
from portal.services.accounts.passwords import (
    hash_password,
    order_fix,
    staff_fix,
    stored_hash_problem,
)
from portal.services.actors import SYSTEM
from portal.services.refunds.transitions import record


@dataclass(frozen=True)
class OverBound:
    """One stored hash that is never verified, and what replaces it."""

    owner: str
    problem: str
    fix: str


def over_bound() -> list[OverBound]:
    """Every order and staff login whose stored hash is over the bound (orders in batches)."""
    found = []
    orders = db.session.execute(
        select(Order.order_no, Merchant.slug, Order.query_password_hash)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .order_by(Order.id)
        .execution_options(yield_per=1000)
    )
    for order_no, slug, encoded in orders:
        problem = stored_hash_problem(encoded)
        if problem:
            found.append(
                OverBound(f"order {order_no} of {slug}", problem, order_fix(order_no, slug))
            )
    for username, encoded in db.session.execute(select(User.username, User.password_hash)):
        problem = stored_hash_problem(encoded)
        if problem:
            found.append(OverBound(f"staff login {username}", problem, staff_fix(username)))
    return found


def find_order(order_no: str, merchant_slug: str) -> Order | None:
    """The shop's order with this number."""
    return db.session.scalar(
        select(Order)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .where(Order.order_no == order_no, Merchant.slug == merchant_slug)
    )


def set_query_password(order: Order, password: str) -> None:
    """Give the order a new query password, hashed here at the portal's own cost; the change
    is on the order's record (who: the operator, at the command line)."""
    order.query_password_hash = hash_password(password)
    order.password_source = None  # the shop's own password no longer opens it
    record("query_password_reset", SYSTEM, order_id=order.id, reason="set by the operator")
    db.session.commit()
