"""One dujiaoka order row (joined with its goods and pays rows) to a portal SourceOrder.

Facts from dujiaoka's own schema and models (see docs/connect-dujiaoka.md): ``orders.status`` is
1 waiting for payment, 2 paid and waiting, 3 processing, 4 completed, 5 processing failed,
6 abnormal, -1 expired; ``search_pwd`` is kept as the buyer typed it; for automatic goods
(``type`` 1) a completed order's ``info`` holds the delivered card codes, one per line;
money is ``decimal(10,2)`` yuan; times are MySQL ``timestamp`` values without a zone.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from portal.domain.order_sources import SourceOrderState, SourceProblem
from portal.plugins.order_sources import SourceOrder, SourcePosition

#: dujiaoka's order status numbers (app/Models/Order.php) -> the portal's terms
STATUS: dict[int, SourceOrderState] = {
    1: SourceOrderState.UNPAID,  # STATUS_WAIT_PAY
    -1: SourceOrderState.UNPAID,  # STATUS_EXPIRED
    2: SourceOrderState.PAID,  # STATUS_PENDING: paid, waiting to be processed
    3: SourceOrderState.PAID,  # STATUS_PROCESSING
    5: SourceOrderState.PAID,  # STATUS_FAILURE: paid, delivery failed
    6: SourceOrderState.PAID,  # STATUS_ABNORMAL: paid, e.g. not enough codes in stock
    4: SourceOrderState.DELIVERED,  # STATUS_COMPLETED
}
#: goods type 1: delivered automatically from the card codes table (codes in orders.info)
AUTOMATIC = 1
#: dujiaoka's official gateways (pays.pay_check of install.sql) -> payout channel ids
DEFAULT_GATEWAYS: dict[str, str] = {"zfbf2f": "alipay", "aliweb": "alipay", "wescan": "wechat"}
TEXT_COLUMNS: tuple[str, ...] = ("order_sn", "email", "search_pwd", "title", "info", "trade_no")
TEXT_COLUMNS += ("gd_name", "gd_description", "pay_check", "pay_name")


class Refused(Exception):
    """The row cannot be an order: a problem code and its parameters."""

    def __init__(self, problem: SourceProblem, **detail: str) -> None:
        super().__init__(problem, detail)
        self.problem = problem
        self.detail = detail


def position_text(value: Any) -> str | None:
    """A ``timestamp`` as the shop stores it, as text (zero-dates kept as read)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.microsecond == 0 and value.tzinfo is None and value.year >= 1000:
            return value.isoformat(" ")  # the same text, made faster
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bytes):
        return value.decode("ascii", "replace")
    return str(value)


def parse_gateways(text: str) -> dict[str, str]:
    """``pay_check=channel`` pairs, comma separated, over the defaults."""
    found = dict(DEFAULT_GATEWAYS)
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, channel = part.partition("=")
        if not sep or not key.strip() or not channel.strip():
            raise ValueError(f"not pay_check=channel: {part.strip()!r}")
        found[key.strip()] = channel.strip()
    return found


def _text(row: Mapping[Any, Any], column: str) -> str:
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(SourceProblem.BAD_TEXT, column=column) from None
    text = str(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes read with surrogateescape
        raise Refused(SourceProblem.BAD_TEXT, column=column) from None
    return text


def _fen(row: Mapping[Any, Any], column: str) -> int:
    value = row.get(column)
    try:
        amount = (value if type(value) is Decimal else Decimal(str(value))) * 100
    except (InvalidOperation, ValueError):
        raise Refused(SourceProblem.BAD_AMOUNT, column=column, value=str(value)[:40]) from None
    if value is None or amount != amount.to_integral_value() or amount < 0:
        raise Refused(SourceProblem.BAD_AMOUNT, column=column, value=str(value)[:40])
    return int(amount)


def _time(value: Any, zone: tzinfo) -> datetime | None:
    """An aware UTC time, or None for NULL and zero-dates (which Python cannot hold)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone).astimezone(UTC) if value.tzinfo is None else value
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed.replace(tzinfo=zone).astimezone(UTC) if parsed.tzinfo is None else parsed


def to_source_order(
    row: Mapping[Any, Any], gateways: Mapping[str, str], zone: tzinfo
) -> SourceOrder:
    """The row as the portal takes it in, or with the problem that stops it."""
    pos = SourcePosition(position_text(row.get("updated_at")), int(row["id"]))
    raw_no = row.get("order_sn")
    order_no = raw_no if isinstance(raw_no, str) else position_text(raw_no) or ""
    order_no = order_no.encode("utf-8", "replace").decode("utf-8")  # shown, even if damaged
    try:
        return _map(pos, row, gateways, zone)
    except Refused as refused:
        detail = {"row_id": str(pos.row_id), **refused.detail}
        return SourceOrder(position=pos, order_no=order_no, problem=refused.problem, detail=detail)


def _map(
    pos: SourcePosition, row: Mapping[Any, Any], gateways: Mapping[str, str], zone: tzinfo
) -> SourceOrder:
    order_no = _text(row, "order_sn")
    status = row.get("status")
    state = STATUS.get(status) if isinstance(status, int) else None
    if state is None:
        raise Refused(SourceProblem.UNKNOWN_STATUS, status=str(status))
    if state == SourceOrderState.UNPAID:
        return SourceOrder(position=pos, order_no=order_no, state=state)
    texts = {}
    for c in TEXT_COLUMNS:
        value = row.get(c)
        # ASCII text is UTF-8 as it is (most columns of most rows): no check to make
        texts[c] = value if type(value) is str and value.isascii() else _text(row, c)
    pay_check = texts["pay_check"]
    channel = gateways.get(pay_check)
    if channel is None:
        detail = {"pay_id": str(row.get("pay_id")), "pay_check": pay_check}
        raise Refused(SourceProblem.UNKNOWN_GATEWAY, **detail, pay_name=texts["pay_name"])
    if not texts["search_pwd"]:
        raise Refused(SourceProblem.NO_QUERY_PASSWORD)
    created, updated = _time(row.get("created_at"), zone), _time(row.get("updated_at"), zone)
    paid_at = created or updated
    if paid_at is None:
        raise Refused(SourceProblem.BAD_TIME, column="created_at")
    codes: tuple[str, ...] = ()
    if state == SourceOrderState.DELIVERED and row.get("type") == AUTOMATIC:
        codes = tuple(line.strip() for line in texts["info"].splitlines() if line.strip())
    unit_fen = _fen(row, "goods_price")
    goods_title = texts["gd_name"] or texts["title"]
    return SourceOrder(
        position=pos,
        order_no=order_no,
        state=state,
        buyer_contact=texts["email"],
        query_password=texts["search_pwd"],
        sku=f"dujiaoka-{row.get('goods_id')}",
        product_title=goods_title,
        product_description=texts["gd_description"],
        product_price_fen=_fen(row, "gd_actual_price") if row.get("gd_name") else unit_fen,
        listing_title=texts["title"] or goods_title,
        listing_description=texts["gd_description"],
        listing_price_fen=unit_fen,
        amount_fen=_fen(row, "actual_price"),
        quantity=int(row.get("buy_amount") or 1),
        channel=channel,
        gateway_trade_id=texts["trade_no"],
        merchant_trade_no=order_no,
        payment_extra={"pay_check": pay_check, "pay_name": texts["pay_name"][:200]},
        paid_at=paid_at,
        delivered_at=(updated or paid_at) if state == SourceOrderState.DELIVERED else None,
        codes=codes,
    )
