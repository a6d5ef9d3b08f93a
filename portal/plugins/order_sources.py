"""The order-source contract: what a ``register_order_sources`` implementation returns.

An order source reads a shop's own database and hands the portal its orders in a fixed
order, by a position (the shop's update time, then its row id) that the portal stores
after each batch it has committed. The source never writes to the shop.

The buyer's query password stays in the shop: orders come in without it, and a buyer's
lookup of such an order asks the source for the password the shop keeps
(``query_password``) and compares it; only then does the portal keep its own Argon2 hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

from portal.domain.order_sources import SourceOrderState, SourceProblem


class OrderSourceError(Exception):
    """The source cannot be read (not the shop's schema, unsupported version, connection)."""


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a row stands in the source's order: its update time as the shop stores it
    (text of a fixed width, ``None`` when unset and first), then its row id. Rows are read
    strictly after a position."""

    updated: str | None
    row_id: int

    def key(self) -> tuple[bool, str, int]:
        """The position as a sort key: unset times first, then by time text, then by id."""
        return (self.updated is not None, self.updated or "", self.row_id)

    def __gt__(self, other: SourcePosition) -> bool:
        return self.key() > other.key()


@dataclass(frozen=True, slots=True)
class SourceOrder:
    """One row read from the shop: an order, or the problem that stops it being one.

    Money is integer fen; times are aware (UTC). ``problem`` set means the other fields
    may be empty; ``detail`` holds its parameters (the column, the value read).
    """

    position: SourcePosition
    order_no: str
    state: SourceOrderState = SourceOrderState.UNPAID
    buyer_contact: str = ""
    #: as the shop keeps it: checked to be one the portal accepts, never stored
    query_password: str = ""
    sku: str = ""
    product_title: str = ""
    product_description: str = ""
    product_price_fen: int = 0
    listing_title: str = ""
    listing_description: str = ""
    listing_price_fen: int = 0
    amount_fen: int = 0
    quantity: int = 1
    channel: str = ""
    gateway_trade_id: str = ""
    merchant_trade_no: str = ""
    payment_extra: dict[str, str] = field(default_factory=dict)
    paid_at: datetime | None = None
    delivered_at: datetime | None = None
    codes: tuple[str, ...] = ()
    problem: SourceProblem | None = None
    detail: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class OrderSource(Protocol):
    """A shop database the portal reads orders from. It may also have ``stream(after,
    limit)``: ``fetch``'s rows (all of them when ``limit`` is None) as an iterator read by
    one query; the portal then reads a run through it once, on a thread of its own, and
    closes it when it stops early."""

    #: unique among sources, stable: the stored position is kept under it
    id: str
    #: the slug of the portal merchant whose orders these are
    merchant: str

    def check(self) -> None:
        """Raise OrderSourceError naming what is wrong when this is not a readable shop."""
        ...

    def fetch(self, after: SourcePosition | None, limit: int) -> Sequence[SourceOrder]:
        """Up to ``limit`` rows strictly after ``after`` (from the start when None), in
        position order. Fewer than ``limit`` means the source has no more for now."""
        ...

    def remaining(self, after: SourcePosition | None) -> int:
        """How many rows lie after ``after`` (for progress)."""
        ...

    def query_password(self, order_no: str) -> str | None:
        """The query password the shop keeps for its order ``order_no`` (None: no such
        order, or more than one, or none kept), read at a buyer's lookup. Raise
        OrderSourceError when the shop cannot be read; answer within a few seconds."""
        ...
