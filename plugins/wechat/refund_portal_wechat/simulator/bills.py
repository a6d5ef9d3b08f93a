"""The simulated gateway's daily refund bill (``GET /v3/bill/tradebill?bill_type=REFUND``).

Built from WeChat Pay's published description of the trade bill: ``/v3/bill/tradebill``
answers ``hash_type`` (SHA1), ``hash_value`` (of the bill as a file, before any gzip) and a
``download_url`` under ``/v3/billdownload/file`` that is fetched with a signed request; the
file is a column row, the detail rows with a backquote before every field, then a totals
column row and one totals row (also backquoted). The REFUND bill lists the refunds applied
for that day, with 退款申请时间, 退款成功时间, 微信退款单号, 商户退款单号 and 退款金额 (yuan).

Tests can edit what the ledger gives (drop a refund, add one never asked for, change an
amount, move a refund to the next day, show one twice) and damage the file.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from refund_portal_wechat.simulator.ledger import CHINA_TZ, Refund

COLUMNS = [
    "交易时间",
    "公众账号ID",
    "商户号",
    "特约商户号",
    "设备号",
    "微信订单号",
    "商户订单号",
    "用户标识",
    "交易类型",
    "交易状态",
    "付款银行",
    "货币种类",
    "应结订单金额",
    "代金券金额",
    "退款申请时间",
    "退款成功时间",
    "微信退款单号",
    "商户退款单号",
    "退款金额",
    "充值券退款金额",
    "退款类型",
    "退款状态",
    "商品名称",
    "商户数据包",
    "手续费",
    "费率",
    "订单金额",
    "申请退款金额",
    "费率备注",
]
TOTAL_COLUMNS = [
    "总交易单数",
    "应结订单总金额",
    "退款总金额",
    "充值券退款总金额",
    "手续费总金额",
    "订单总金额",
    "申请退款总金额",
]
TIME = "%Y-%m-%d %H:%M:%S"
#: ways to damage the next bill (used up one each)
DAMAGE = ("bill_bad_hash", "bill_bad_gzip", "bill_wrong_encoding", "bill_other_day")


@dataclass
class BillEdits:
    """Standing changes to the bills the ledger gives (kept until ``clear``)."""

    drop: set[str] = field(default_factory=set)
    amount: dict[str, int] = field(default_factory=dict)
    next_day: set[str] = field(default_factory=set)
    twice: set[str] = field(default_factory=set)
    extra: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.drop.clear()
            self.amount.clear()
            self.next_day.clear()
            self.twice.clear()
            self.extra.clear()


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _local(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, CHINA_TZ).replace(tzinfo=None)


def refund_rows(refunds: list[Refund], edits: BillEdits, day: date) -> list[dict[str, Any]]:
    """The refunds applied for on ``day`` (Beijing) that the bill shows, edits applied."""
    rows: list[dict[str, Any]] = []
    with edits.lock:
        for r in refunds:
            if r.out_refund_no in edits.drop or r.status not in ("SUCCESS", "PROCESSING"):
                continue
            applied = _local(r.created_at)
            done = _local(r.success_at) if r.success_at is not None else None
            if r.out_refund_no in edits.next_day:
                applied += timedelta(days=1)
                done = done + timedelta(days=1) if done else None
            row = {
                "transaction_id": r.transaction_id,
                "out_trade_no": r.out_trade_no,
                "refund_id": r.refund_id,
                "out_refund_no": r.out_refund_no,
                "total_fen": r.total_fen,
                "refund_fen": edits.amount.get(r.out_refund_no, r.refund_fen),
                "applied": applied,
                "done": done,
                "status": r.status,
            }
            rows.extend([row] * (2 if r.out_refund_no in edits.twice else 1))
        rows.extend(dict(x) for x in edits.extra)
    return sorted((r for r in rows if r["applied"].date() == day), key=lambda r: r["applied"])


def bill_text(rows: list[dict[str, Any]], mchid: str, appid: str = "wx8888888888888888") -> str:
    """The REFUND bill as WeChat Pay writes it."""
    lines = [",".join(COLUMNS)]
    for r in rows:
        values = {
            "交易时间": r["applied"].strftime(TIME),
            "公众账号ID": appid,
            "商户号": mchid,
            "特约商户号": "0",
            "微信订单号": r["transaction_id"],
            "商户订单号": r["out_trade_no"],
            "用户标识": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
            "交易类型": "JSAPI",
            "交易状态": "REFUND",
            "付款银行": "OTHERS",
            "货币种类": "CNY",
            "应结订单金额": "0.00",
            "代金券金额": "0.00",
            "退款申请时间": r["applied"].strftime(TIME),
            "退款成功时间": r["done"].strftime(TIME) if r["done"] else "",
            "微信退款单号": r["refund_id"],
            "商户退款单号": r["out_refund_no"],
            "退款金额": _yuan(r["refund_fen"]),
            "充值券退款金额": "0.00",
            "退款类型": "ORIGINAL",
            "退款状态": r["status"],
            "商品名称": "点卡",
            "手续费": "0.00000",
            "费率": "0.60%",
            "订单金额": _yuan(r["total_fen"]),
            "申请退款金额": _yuan(r["refund_fen"]),
        }
        lines.append(",".join("`" + values.get(c, "") for c in COLUMNS))
    refunded = sum(r["refund_fen"] for r in rows)
    lines.append(",".join(TOTAL_COLUMNS))
    totals = [str(len(rows)), "0.00", _yuan(refunded), "0.00", "0.00000", "0.00", _yuan(refunded)]
    lines.append(",".join("`" + v for v in totals))
    return "\r\n".join(lines) + "\r\n"


def publish(
    rows: list[dict[str, Any]], mchid: str, gzipped: bool, damage: str
) -> tuple[bytes, str]:
    """(the file the download serves, its hash_value), damaged as ``damage`` says."""
    if damage == "bill_other_day":
        for r in rows:
            r["applied"] -= timedelta(days=1)
            r["done"] = r["done"] - timedelta(days=1) if r["done"] else None
    text = bill_text(rows, mchid)
    raw = text.encode("gbk" if damage == "bill_wrong_encoding" else "utf-8")
    digest = hashlib.sha1(raw, usedforsecurity=False).hexdigest()
    if damage == "bill_bad_hash":
        digest = hashlib.sha1(raw + b" ", usedforsecurity=False).hexdigest()
    if gzipped:
        raw = gzip.compress(raw, mtime=0)
        if damage == "bill_bad_gzip":
            raw = raw[: len(raw) // 2]
    elif damage == "bill_bad_gzip":
        raw = b"\x1f\x8b\x08 not gzip"
    return raw, digest
