"""Which orders this browser may see: granted by a lookup, for ``BUYER_ACCESS_MINUTES``.

The signed session cookie holds ``[order id, granted at]`` pairs (the 20 most recent). An
expired pair, or one in an older shape, counts for nothing: the buyer looks the order up again.
"""

from __future__ import annotations

from flask import session

from portal.services import context

KEY = "orders"
MAX_ORDERS = 20


def _now() -> float:
    return context.now().timestamp()


def _pairs() -> list[tuple[int, int]]:
    raw = session.get(KEY)
    if not isinstance(raw, list):
        return []
    lifetime = float(context.setting("BUYER_ACCESS_MINUTES")) * 60
    now = _now()
    kept = []
    for item in raw:
        if (
            isinstance(item, list | tuple)
            and len(item) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in item)
            and item[1] <= now + 60
            and now - item[1] < lifetime
        ):
            kept.append((item[0], item[1]))
    return kept


def allowed_ids() -> list[int]:
    """The orders this browser may still see."""
    return [order_id for order_id, _ in _pairs()]


def allowed(order_id: int) -> bool:
    """Whether this browser may still see the order."""
    return order_id in allowed_ids()


def grant(order_id: int) -> None:
    """Let this browser see the order (after a lookup with its query password)."""
    pairs = [p for p in _pairs() if p[0] != order_id]
    pairs.append((order_id, int(_now())))
    session[KEY] = [list(p) for p in pairs[-MAX_ORDERS:]]
