"""A buyer's query password checked against the shop that keeps it.

Orders an order source brings in carry no password of ours: the shop keeps its own (dujiaoka
stores it as the buyer typed it), and copying it in would mean an Argon2 hash per order on
the way in. At the buyer's lookup of such an order the source is asked for the password it
keeps, through its read-only account, and the two are compared in constant time; when they
match, our own Argon2 hash is kept (and the source is not asked again for that order).

A miss costs what a miss against a stored hash costs (one Argon2 verification), a hit what
keeping the hash costs (one Argon2 hash). When the shop cannot be read the lookup fails
with its own message: nothing is let through, and the lookup throttle counts it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from portal.models import Order
from portal.plugins.order_sources import OrderSourceError
from portal.services.accounts.passwords import check_password, hash_password
from portal.services.actors import BUYER
from portal.services.integration.order_source_list import source
from portal.services.refunds.transitions import record

log = logging.getLogger(__name__)


class SourceUnreachable(Exception):
    """The order's source could not be asked for the query password."""


def kept_at_source(order: Order) -> bool:
    """Whether a lookup of this order checks the password its source keeps (the order came
    from an order source, no hash of ours is kept yet, and it was not erased)."""
    return (
        order.password_source is not None
        and not order.query_password_hash
        and order.erased_at is None
    )


def _source_password(order: Order) -> str | None:
    """The password the order's source keeps for it; SourceUnreachable if it cannot say."""
    source_id = order.password_source or ""
    try:
        src = source(source_id)
        if src.merchant != order.merchant.slug:  # the source now reads another shop
            raise OrderSourceError(f"{source_id} now reads the orders of {src.merchant!r}")
        return src.query_password(order.order_no)
    except OrderSourceError as exc:
        log.warning(
            "query password of order %s (id %s) not checked: order source %r: %s",
            order.order_no,
            order.id,
            source_id,
            exc,
        )
        raise SourceUnreachable(source_id) from None


def _digest(text: str) -> bytes:
    """What is compared: equal lengths, whatever the passwords' lengths."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def check(order: Order, password: str) -> bool:
    """Whether ``password`` is the one the order's source keeps; on a match our Argon2 hash
    is set on the order, with its event, for the caller to commit. SourceUnreachable when
    the source cannot be asked (after a miss's Argon2 work, so it costs what a miss costs)."""
    try:
        kept = _source_password(order)
    except SourceUnreachable:
        check_password(None, password)
        raise
    if kept is None or not hmac.compare_digest(_digest(kept), _digest(password)):
        check_password(None, password)
        return False
    order.query_password_hash = hash_password(password)
    source_id, order.password_source = order.password_source, None
    record("query_password_kept", BUYER, order_id=order.id, data={"source": source_id})
    return True
