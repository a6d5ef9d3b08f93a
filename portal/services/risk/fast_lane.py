"""Each shop's fast lane: the limit under which low-risk cases the rules favour are approved
at once (an operator sets it; the platform's default where none is set), and the merchant's
choice to opt out. Each change is recorded."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from portal.domain.risk import MAX_THRESHOLD
from portal.extensions import db
from portal.models import Merchant, ShopFastLane
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import DomainError, NotFound
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit


@dataclass(frozen=True)
class ShopLane:
    """A shop's fast lane as it applies: its limit (0: none) and the merchant's choice."""

    limit_fen: int
    own_limit: bool  # set for this shop (else the platform's default)
    opted_out: bool


def for_shop(merchant_id: int) -> ShopLane:
    """The fast lane that applies to ``merchant_id`` (one primary-key read)."""
    row = db.session.get(ShopFastLane, merchant_id)
    default = default_limit()
    if row is None:
        return ShopLane(default, False, False)
    own = row.limit_fen is not None
    return ShopLane(row.limit_fen if own else default, own, row.opted_out)  # type: ignore[arg-type]


#: shops shown on the fast-lane page
PAGE = 200


@dataclass(frozen=True)
class ShopRow:
    """A shop on the fast-lane page."""

    merchant_id: int
    name: str
    limit_fen: int | None  # its own limit, or None (the platform's default)
    opted_out: bool
    changed_by: str


def listing() -> list[ShopRow]:
    """Shops with their fast lanes, by name (one statement, at most ``PAGE`` shops)."""
    rows = db.session.execute(
        select(
            Merchant.id,
            Merchant.name,
            ShopFastLane.limit_fen,
            ShopFastLane.opted_out,
            ShopFastLane.changed_by,
        )
        .outerjoin(ShopFastLane, ShopFastLane.merchant_id == Merchant.id)
        .order_by(Merchant.name, Merchant.id)
        .limit(PAGE)
    ).all()
    return [ShopRow(r[0], r[1], r[2], bool(r[3]), r[4] or "") for r in rows]


def default_limit() -> int:
    """The platform's fast-lane limit for shops without their own."""
    return int(context.setting("FAST_LANE_DEFAULT_LIMIT_FEN") or 0)


def _row(merchant_id: int) -> ShopFastLane:
    if db.session.get(Merchant, merchant_id) is None:
        raise NotFound(N_("There is no such shop."), rule="shop")
    row = db.session.get(ShopFastLane, merchant_id, with_for_update=True)
    if row is None:
        row = ShopFastLane(merchant_id=merchant_id, limit_fen=None, opted_out=False)
        db.session.add(row)
    return row


def set_limit(merchant_id: int, limit_fen: int | None, actor: Actor) -> None:
    """An operator sets a shop's limit (None: back to the platform's default)."""
    if limit_fen is not None and not 0 <= limit_fen <= MAX_THRESHOLD:
        raise DomainError(N_("Enter an amount of 0 or more."), rule="fast_lane_limit")

    def work() -> None:
        row = _row(merchant_id)
        old = row.limit_fen
        row.limit_fen = limit_fen
        row.changed_at, row.changed_by = context.now(), actor.label
        record(
            "fast_lane_limit_changed",
            actor,
            data={"merchant_id": merchant_id, "old_fen": old, "new_fen": limit_fen},
        )

    commit(work)


def set_opt_out(merchant_id: int, opted_out: bool, actor: Actor) -> None:
    """The merchant opts its shop out of the fast lane (or back in)."""

    def work() -> None:
        row = _row(merchant_id)
        row.opted_out = opted_out
        row.changed_at, row.changed_by = context.now(), actor.label
        record(
            "fast_lane_opted_out" if opted_out else "fast_lane_opted_in",
            actor,
            data={"merchant_id": merchant_id},
        )

    commit(work)
