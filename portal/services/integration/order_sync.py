"""Taking orders in from an order source (a shop's own database, read by a plugin).

A batch of rows and the position after it are committed in one transaction, so a crash
between batches leaves the position at the last committed row: nothing is skipped, and
rows read again are taken in idempotently (by shop and order number). The position is
compared and set: of two readers that read the same batch, one commits and the other rolls
back. Orders are checked as the ingest API checks them (its schema) and written as it
writes them, a batch's new orders set-based (``ingest_batch``: one bulk insert a table,
one chain link for the batch's events); an order's query password stays with its source
(``source_passwords`` checks it at the buyer's lookup). Rows that cannot be taken in are kept
per row as problems (a code and its parameters). A source that streams is read by one query
a run, on a reader thread a few batches ahead of the batches being taken in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import BigInteger, String, cast, delete, func, literal, select, true, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from portal.domain.order_sources import SourceOrderState, SourceProblem
from portal.extensions import db
from portal.models import Merchant, Order, OrderSourceCursor, OrderSourceProblem, Product
from portal.plugins import startup
from portal.plugins.order_sources import (
    OrderSource,
    OrderSourceError,
    SourceOrder,
    SourcePosition,
)
from portal.services import bulk_rows, column_arrays, context
from portal.services.actors import Actor
from portal.services.errors import ConcurrentChange
from portal.services.integration import ingest, ingest_batch
from portal.services.integration.api_schema import OrderIn
from portal.services.integration.order_source_list import source as source
from portal.services.integration.order_source_list import sources as sources
from portal.services.integration.source_reader import ChunkReader
from portal.services.policy_text import N_

#: rows taken in and committed together
BATCH = 500
#: rows read from a source that only fetches at once (then taken in BATCH at a time): a
#: shop's table may have no index on the reading position, so each read costs a scan of it
READ_AHEAD = 10_000
#: the longest card code the portal stores
MAX_CODE = 200


@dataclass
class SyncResult:
    """What one or more batches did, by outcome."""

    read: int = 0
    created: int = 0
    delivered: int = 0
    unchanged: int = 0
    unpaid: int = 0
    problems: int = 0
    done: bool = False

    def add(self, other: SyncResult) -> None:
        for name in ("read", "created", "delivered", "unchanged", "unpaid", "problems"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.done = other.done


def position(source_id: str) -> SourcePosition | None:
    """The last position taken in (None: from the start)."""
    cursor = db.session.get(OrderSourceCursor, source_id)
    if cursor is None or not cursor.started:
        return None
    return SourcePosition(cursor.after_updated, cursor.after_row_id)


def restart(source_id: str) -> None:
    """Read the source again from the start (a backfill); orders already in stay as they are."""
    db.session.execute(
        update(OrderSourceCursor)
        .where(OrderSourceCursor.source_id == source_id)
        .values(started=False, after_updated=None, after_row_id=0, moved_at=context.now())
    )
    db.session.commit()


def problems(source_id: str, limit: int = 200) -> list[OrderSourceProblem]:
    """Rows of the source not taken in, oldest first."""
    return list(
        db.session.scalars(
            select(OrderSourceProblem)
            .where(OrderSourceProblem.source_id == source_id)
            .order_by(OrderSourceProblem.row_id)
            .limit(limit)
        )
    )


def _merchant_id(slug: str) -> int:
    merchant_id = db.session.scalar(select(Merchant.id).where(Merchant.slug == slug))
    if merchant_id is None:
        raise OrderSourceError(f"no merchant with slug {slug!r} for this order source")
    return merchant_id


def sync_batch(src: OrderSource, limit: int = BATCH) -> SyncResult:
    """Read and take in one batch after the stored position, and move it, in one commit."""
    return _read_and_take(src, limit, 1, None)


def sync(
    src: OrderSource,
    limit: int = BATCH,
    progress: Callable[[SyncResult], None] | None = None,
    max_batches: int | None = None,
) -> SyncResult:
    """Take in batches until the source has no more (or ``max_batches``), each batch in its
    own commit. A source that streams (``stream``) is read by one query for the whole run;
    else rows are read ``READ_AHEAD`` at a time and taken in ``limit`` at a time."""
    if getattr(src, "stream", None) is not None:
        count = None if max_batches is None else max_batches * limit
        return _stream_and_take(src, limit, count, progress)
    total = SyncResult()
    batches = 0
    while not total.done and (max_batches is None or batches < max_batches):
        reads = max(1, READ_AHEAD // limit)
        if max_batches is not None:
            reads = min(reads, max_batches - batches)

        def report(more: SyncResult) -> None:
            if progress:
                progress(_sum(total, more))

        result = _read_and_take(src, limit, reads, report)
        total.add(result)
        batches += max(1, -(-result.read // limit))
    return total


def _sum(total: SyncResult, more: SyncResult) -> SyncResult:
    both = SyncResult()
    both.add(total)
    both.add(more)
    return both


def _read_and_take(
    src: OrderSource,
    limit: int,
    batches: int,
    progress: Callable[[SyncResult], None] | None,
) -> SyncResult:
    """Read up to ``batches`` x ``limit`` rows after the stored position in one read, then
    take them in ``limit`` at a time, each batch with the position after it in one commit."""
    merchant_id = _merchant_id(src.merchant)
    start = position(src.id)
    db.session.commit()  # the read above must not hold a transaction across the source's read
    rows = list(src.fetch(start, batches * limit))
    _check_order(src.id, start, rows)
    chunks = (rows[first : first + limit] for first in range(0, len(rows), limit))
    result = SyncResult(done=len(rows) < batches * limit)
    _take_chunks(src.id, merchant_id, start, chunks, result, progress)
    return result


def _stream_and_take(
    src: OrderSource,
    limit: int,
    count: int | None,
    progress: Callable[[SyncResult], None] | None,
) -> SyncResult:
    """Read up to ``count`` rows (None: all) after the stored position by one streamed read,
    taking them in ``limit`` at a time as they come, each batch with the position after it
    in one commit. The source is read on a thread of its own, a few batches ahead."""
    merchant_id = _merchant_id(src.merchant)
    start = position(src.id)
    db.session.commit()  # the read above must not hold a transaction across the source's read
    reader = ChunkReader(src.stream(start, count), limit)  # type: ignore[attr-defined]
    result = SyncResult()
    try:
        chunks = _checked(src.id, start, reader.chunks())
        _take_chunks(src.id, merchant_id, start, chunks, result, progress)
    finally:
        reader.stop()
    result.done = count is None or result.read < count
    return result


def _check_order(source_id: str, start: SourcePosition | None, rows: Sequence[SourceOrder]) -> None:
    """Each row strictly after the one before it (and the first after ``start``)."""
    last = start
    for row in rows:
        if last is not None and not row.position > last:
            raise OrderSourceError(
                f"{source_id}: row {row.position.row_id} is not after {last}; nothing taken in"
            )
        last = row.position


def _checked(
    source_id: str, start: SourcePosition | None, chunks: Iterable[Sequence[SourceOrder]]
) -> Iterator[Sequence[SourceOrder]]:
    """Streamed chunks, each checked (``_check_order``) when it comes, before it is taken in."""
    for chunk in chunks:
        _check_order(source_id, start, chunk)
        yield chunk
        start = chunk[-1].position


def _take_chunks(
    source_id: str,
    merchant_id: int,
    start: SourcePosition | None,
    chunks: Iterable[Sequence[SourceOrder]],
    result: SyncResult,
    progress: Callable[[SyncResult], None] | None,
) -> None:
    """Take each chunk in with the position after it, in one commit a chunk."""
    actor = ingest.shop_actor(merchant_id, f"order source {source_id}")
    for chunk in chunks:
        try:
            batch = _Batch(source_id, merchant_id, actor, chunk)
            for row in chunk:
                _take(batch, row, result)
            batch.add_new()
            _move(source_id, start, chunk[-1].position)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        result.read += len(chunk)
        start = chunk[-1].position
        if progress:
            progress(result)


def _move(source_id: str, start: SourcePosition | None, to: SourcePosition) -> None:
    """Compare and set the position: it must still be where this batch started."""
    values = {
        "after_updated": to.updated,
        "after_row_id": to.row_id,
        "started": True,
        "moved_at": context.now(),
    }
    cursor = db.session.get(OrderSourceCursor, source_id)
    if cursor is None:
        try:
            with db.session.begin_nested():
                db.session.add(OrderSourceCursor(source_id=source_id, **values))
        except IntegrityError:
            raise _moved(source_id) from None
        return
    stmt = update(OrderSourceCursor).where(OrderSourceCursor.source_id == source_id)
    if start is None:
        stmt = stmt.where(OrderSourceCursor.started.is_(False))
    else:
        stmt = stmt.where(
            OrderSourceCursor.started.is_(True),
            OrderSourceCursor.after_updated.is_not_distinct_from(start.updated),
            OrderSourceCursor.after_row_id == start.row_id,
        )
    if db.session.execute(stmt.values(**values)).rowcount != 1:  # type: ignore[attr-defined]
        raise _moved(source_id)


def _moved(source_id: str) -> ConcurrentChange:
    return ConcurrentChange(
        N_("Another reader took this batch in first."), rule="order_source", source=source_id
    )


class _Batch:
    """What the rows of one batch share: the source, the merchant, the actor, and what was
    read for all of them at once (the orders already in, by number; the products of their
    SKUs). New orders wait in ``new`` and are added together (``add_new``). A batch's rows
    have their old problems cleared together; a row that still has one gets it written again."""

    def __init__(
        self, source_id: str, merchant_id: int, actor: Actor, rows: Sequence[SourceOrder]
    ) -> None:
        self.source_id, self.merchant_id, self.actor = source_id, merchant_id, actor
        self.channels = _loaded_channels()
        numbers = {row.order_no for row in rows if row.problem is None}
        self.orders: dict[str, Order] = {}
        self.new: dict[str, ingest_batch.NewOrder] = {}
        #: numbers of the orders this batch added (not read back unless needed)
        self.added: set[str] = set()
        #: each SKU's product as the batch last set it, with the product data that set it
        self.products: dict[str, tuple[str, Product]] = {}
        for first in range(0, len(numbers), 1000):
            chunk = sorted(numbers)[first : first + 1000]
            self.orders.update((o.order_no, o) for o in _orders_by_number(merchant_id, chunk))
        skus = sorted({row.sku for row in rows if row.problem is None and row.sku})
        self.stored: dict[str, Product] = {}
        for first in range(0, len(skus), 1000):
            found_products = db.session.scalars(
                select(Product).where(
                    Product.merchant_id == merchant_id, Product.sku.in_(skus[first : first + 1000])
                )
            )
            self.stored.update((p.sku, p) for p in found_products)
        row_ids = sorted({row.position.row_id for row in rows})
        among = column_arrays.among(OrderSourceProblem.row_id, row_ids, BigInteger())
        db.session.execute(
            delete(OrderSourceProblem).where(OrderSourceProblem.source_id == source_id, among)
        )

    def add_new(self) -> None:
        """Add the new orders waiting, and hold them as orders already in."""
        if not self.new:
            return
        ingest_batch.add_orders(self.merchant_id, list(self.new.values()), self.actor)
        self.added.update(self.new)
        self.new.clear()

    def order(self, order_no: str) -> Order | None:
        """The order with this number already in (read at need when this batch added it)."""
        if order_no not in self.orders and order_no in self.added:
            self.orders[order_no] = ingest.own_order(self.merchant_id, order_no)
        return self.orders.get(order_no)


def _orders_by_number(merchant_id: int, numbers: list[str]) -> Sequence[Order]:
    """The merchant's orders with these numbers. On PostgreSQL one probe of the unique
    (merchant, number) index a number (a LATERAL join), whatever the planner's statistics
    say: a table filled since it was last analysed is otherwise read whole for every batch."""
    if not bulk_rows.on_postgresql():
        return db.session.scalars(
            select(Order).where(Order.merchant_id == merchant_id, Order.order_no.in_(numbers))
        ).all()
    wanted = (
        func.unnest(cast(literal(numbers, ARRAY(String)), ARRAY(String)))
        .table_valued("no")
        .render_derived(name="wanted")
    )
    one = (
        select(Order)
        .where(Order.merchant_id == merchant_id, Order.order_no == wanted.c.no)
        .limit(1)
        .lateral("found")
    )
    found = aliased(Order, one)
    return db.session.scalars(select(found).select_from(wanted).join(one, true())).all()


def _problem(
    batch: _Batch, row: SourceOrder, problem: SourceProblem, detail: dict[str, str]
) -> None:
    db.session.add(
        OrderSourceProblem(
            source_id=batch.source_id,
            row_id=row.position.row_id,
            order_no=row.order_no[:200],
            problem=str(problem),
            detail=detail,
            seen_at=context.now(),
        )
    )


def _order_in(row: SourceOrder) -> OrderIn:
    data: dict[str, Any] = {
        "order_no": row.order_no,
        "buyer_contact": row.buyer_contact,
        "query_password": row.query_password,
        "product": {
            "sku": row.sku,
            "title": row.product_title,
            "description": row.product_description,
            "price_fen": row.product_price_fen,
        },
        "listing": {
            "title": row.listing_title,
            "description": row.listing_description,
            "price_fen": row.listing_price_fen,
        },
        "amount_fen": row.amount_fen,
        "quantity": row.quantity,
        "payment": {
            "channel": row.channel,
            "gateway_trade_id": row.gateway_trade_id,
            "merchant_trade_no": row.merchant_trade_no,
            "captured_fen": row.amount_fen,
            "extra": dict(row.payment_extra),
        },
        "paid_at": row.paid_at,
    }
    return OrderIn.model_validate(data, strict=False)


def _loaded_channels() -> set[str] | None:
    return set(startup.channels().ids())


def _product(batch: _Batch, data: OrderIn) -> Product:
    """The order's product, set from the order as ``ingest.product_for`` sets it (read once
    for the batch; set again only when this order's product data differ from the last set)."""
    given = data.product.model_dump_json()
    known = batch.products.get(data.product.sku)
    if known is not None and known[0] == given:
        return known[1]
    product = batch.stored.get(data.product.sku)
    if product is None:
        product = Product(merchant_id=batch.merchant_id, sku=data.product.sku)
        db.session.add(product)
        batch.stored[data.product.sku] = product
    ingest.set_product(product, data)
    batch.products[data.product.sku] = (given, product)
    return product


def _take(batch: _Batch, row: SourceOrder, result: SyncResult) -> None:
    """Take one row in (in the batch's transaction), or keep its problem."""
    if row.problem is not None:
        _problem(batch, row, row.problem, dict(row.detail))
        result.problems += 1
        return
    if row.state == SourceOrderState.UNPAID:
        result.unpaid += 1
        return
    channels = batch.channels
    if channels is not None and row.channel not in channels:
        detail = {"channel": row.channel, **row.payment_extra}
        _problem(batch, row, SourceProblem.UNKNOWN_GATEWAY, detail)
        result.problems += 1
        return
    try:
        data = _order_in(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "order"
        _problem(batch, row, SourceProblem.INVALID, {"field": field, "message": err["msg"]})
        result.problems += 1
        return
    long_code = next((c for c in row.codes if len(c) > MAX_CODE), None)
    if long_code is not None:
        detail = {"field": "codes", "message": f"a code is longer than {MAX_CODE} characters"}
        _problem(batch, row, SourceProblem.INVALID, detail)
        result.problems += 1
        return
    if data.order_no in batch.new:  # the same number twice in a batch: the first goes in
        batch.add_new()
    order = batch.order(data.order_no)
    if order is None:
        delivered = row.state == SourceOrderState.DELIVERED
        batch.new[data.order_no] = ingest_batch.NewOrder(
            data=data,
            product=_product(batch, data),
            password_source=batch.source_id,
            delivered=delivered,
            delivered_at=row.delivered_at,
            codes=tuple(row.codes),
        )
        result.created += 1
        result.delivered += delivered
        return
    delivers = (
        row.state == SourceOrderState.DELIVERED
        and order.cancelled_at is None  # as the ingest API's delivery: not on a cancelled order
        and (order.delivered_at is None or not set(row.codes) <= {c.code for c in order.codes})
    )
    if delivers:
        ingest.add_codes(order, list(row.codes), row.delivered_at, batch.actor)
        result.delivered += 1
    else:
        result.unchanged += 1
