"""Importing orders from a CSV file: every bad row reported by line, and all rows or none.

Columns (a header row names them; order does not matter): ``order_no``, ``buyer_contact``,
``query_password``, ``sku``, ``title``, ``price`` (yuan), ``amount`` (yuan), ``channel``,
``gateway_trade_id``, ``merchant_trade_no``, ``paid_at`` (ISO 8601 with offset); optional:
``description``, ``face_value`` (yuan), ``quantity``, ``captured`` (yuan, default ``amount``),
``delivery_type``, ``delivery_sla_minutes``, ``refund_window_days``, ``refund_policy``,
``codes`` (card codes separated by ``|``: the order is then delivered at ``paid_at``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from portal.domain.money import MoneyError, parse_yuan
from portal.extensions import db
from portal.models import CardCode, Order, Product
from portal.services import context
from portal.services.actors import Actor
from portal.services.integration import ingest
from portal.services.integration.api_schema import OrderIn
from portal.services.refunds.transitions import record

REQUIRED = (
    "order_no",
    "buyer_contact",
    "query_password",
    "sku",
    "title",
    "price",
    "amount",
    "channel",
    "gateway_trade_id",
    "merchant_trade_no",
    "paid_at",
)
OPTIONAL = (
    "description",
    "face_value",
    "quantity",
    "captured",
    "delivery_type",
    "delivery_sla_minutes",
    "refund_window_days",
    "refund_policy",
    "codes",
)
MAX_ROWS = 200_000


def upload_dir() -> str:
    """Where uploaded files wait for their import job (``IMPORT_DIR``, else instance/imports)."""
    path = context.setting("IMPORT_DIR", None) or os.path.join(context.instance_path(), "imports")
    os.makedirs(path, exist_ok=True)
    return path


@dataclass(frozen=True)
class RowError:
    """One problem: the file's line number (1 is the header), the column, what is wrong."""

    line: int
    column: str
    message: str


@dataclass
class Parsed:
    """The rows that passed, with their line numbers, and every error found."""

    rows: list[tuple[int, OrderIn, dict[str, str]]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.errors


class ImportRefused(Exception):
    """The file has errors; nothing was imported."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__(f"{len(errors)} error(s); nothing imported")
        self.errors = errors


def _fen(row: dict[str, str], column: str, line: int, errors: list[RowError]) -> int | None:
    try:
        return parse_yuan(row.get(column) or "")
    except MoneyError:
        errors.append(RowError(line, column, "not an amount in yuan (e.g. 12.50)"))
        return None


def _records(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    start = 2
    for row in reader:
        yield start, row
        start = reader.line_num + 1


def _to_order(line: int, row: dict[str, str], errors: list[RowError]) -> OrderIn | None:
    found: list[RowError] = []
    amount = _fen(row, "amount", line, found)
    price = _fen(row, "price", line, found)
    face = _fen(row, "face_value", line, found) if row.get("face_value") else 0
    captured = _fen(row, "captured", line, found) if row.get("captured") else amount
    product: dict[str, Any] = {"sku": row.get("sku"), "title": row.get("title"), "price_fen": price}
    product["face_value_fen"] = face
    for column, key in (
        ("description", "description"),
        ("delivery_type", "delivery_type"),
        ("delivery_sla_minutes", "delivery_sla_minutes"),
        ("refund_window_days", "refund_window_days"),
        ("refund_policy", "refund_policy"),
    ):
        if row.get(column):
            product[key] = row[column]
    data: dict[str, Any] = {
        "order_no": row.get("order_no"),
        "buyer_contact": row.get("buyer_contact"),
        "query_password": row.get("query_password"),
        "product": product,
        "amount_fen": amount,
        "quantity": row.get("quantity") or 1,
        "payment": {
            "channel": row.get("channel"),
            "gateway_trade_id": row.get("gateway_trade_id"),
            "merchant_trade_no": row.get("merchant_trade_no"),
            "captured_fen": captured,
        },
        "paid_at": row.get("paid_at"),
    }
    if found:
        errors.extend(found)
        return None
    try:
        return OrderIn.model_validate(data, strict=False)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            column = _COLUMN.get(".".join(loc), loc[-1] if loc else "row")
            errors.append(RowError(line, column, err["msg"]))
        return None


_COLUMN = {
    "product.sku": "sku",
    "product.title": "title",
    "product.price_fen": "price",
    "product.face_value_fen": "face_value",
    "product.description": "description",
    "product.delivery_type": "delivery_type",
    "product.delivery_sla_minutes": "delivery_sla_minutes",
    "product.refund_window_days": "refund_window_days",
    "product.refund_policy": "refund_policy",
    "amount_fen": "amount",
    "payment.channel": "channel",
    "payment.gateway_trade_id": "gateway_trade_id",
    "payment.merchant_trade_no": "merchant_trade_no",
    "payment.captured_fen": "captured",
}


def parse(merchant_id: int, text: str) -> Parsed:
    """Check every row (and order numbers already taken); nothing is written."""
    result = Parsed()
    header = next(csv.reader(io.StringIO(text)), [])
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        result.errors.append(RowError(1, ", ".join(missing), "missing column(s)"))
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if unknown:
        result.errors.append(RowError(1, ", ".join(unknown), "unknown column(s)"))
    if result.errors:
        return result
    seen: dict[str, int] = {}
    for line, row in _records(text):
        if line > MAX_ROWS + 1:
            result.errors.append(RowError(line, "row", f"more than {MAX_ROWS} rows"))
            break
        if None in row:
            result.errors.append(RowError(line, "row", "more fields than the header has"))
            continue
        order = _to_order(line, row, result.errors)
        if order is None:
            continue
        if order.order_no in seen:
            result.errors.append(
                RowError(line, "order_no", f"same order number as line {seen[order.order_no]}")
            )
            continue
        seen[order.order_no] = line
        result.rows.append((line, order, row))
    if not result.rows and not result.errors:
        result.errors.append(RowError(1, "row", "the file has no orders"))
    taken = _taken(merchant_id, [o.order_no for _, o, _ in result.rows])
    for line, order, _ in result.rows:
        if order.order_no in taken:
            result.errors.append(RowError(line, "order_no", "this order number already exists"))
    result.errors.sort(key=lambda e: e.line)
    return result


def _taken(merchant_id: int, order_nos: list[str]) -> set[str]:
    taken: set[str] = set()
    for i in range(0, len(order_nos), 500):
        chunk = order_nos[i : i + 500]
        taken.update(
            db.session.scalars(
                select(Order.order_no).where(
                    Order.merchant_id == merchant_id, Order.order_no.in_(chunk)
                )
            )
        )
    return taken


def import_orders(
    merchant_id: int,
    text: str,
    actor: Actor,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Import every row in one transaction, or raise ImportRefused and write nothing."""
    parsed = parse(merchant_id, text)
    if not parsed.clean:
        raise ImportRefused(parsed.errors)
    total = len(parsed.rows)
    products: dict[str, Product] = {}
    try:
        for done, (_, data, row) in enumerate(parsed.rows, start=1):
            sku = data.product.sku
            if sku not in products:
                products[sku] = ingest.product_for(merchant_id, data)
            order = ingest.add_order(merchant_id, data, actor, products[sku])
            codes = [c for c in (row.get("codes") or "").split("|") if c.strip()]
            if codes:
                order.delivered_at = data.paid_at
                for code in codes:
                    db.session.add(
                        CardCode(order_id=order.id, code=code.strip(), delivered_at=data.paid_at)
                    )
            if progress and (done % 200 == 0 or done == total):
                progress(done, total)
        record("orders_imported", actor, data={"count": total, "merchant_id": merchant_id})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return total
