"""The simulated gateway's daily trade bill (``bill_type=trade``), as Alipay publishes it.

Built from the published description of the bill download: ``alipay.data.dataservice.bill.
downloadurl.query`` answers a short-lived ``bill_download_url``; the file there is a ZIP
holding the day's business detail CSV (业务明细) and its summary (业务明细(汇总)), both
GBK-encoded, with ``#`` header lines above the column row and ``#`` total and export lines
below the rows. A refund is a row of business type 退款 whose merchant receipt is negative
and whose 退款批次号/请求号 is the refund's ``out_request_no``.

Tests can edit the bill the ledger gives (drop a refund, add one never asked for, change an
amount, move a refund to the next day) and damage the file itself.
"""

from __future__ import annotations

import io
import threading
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from refund_portal_alipay.amounts import fen_to_yuan

PID = "2088101117950000"
COLUMNS = [
    "支付宝交易号",
    "商户订单号",
    "业务类型",
    "商品名称",
    "创建时间",
    "完成时间",
    "门店编号",
    "门店名称",
    "操作员",
    "终端号",
    "对方账户",
    "订单金额（元）",
    "商家实收（元）",
    "支付宝红包（元）",
    "集分宝（元）",
    "支付宝优惠（元）",
    "商家优惠（元）",
    "券核销金额（元）",
    "券名称",
    "商家红包消费金额（元）",
    "卡消费金额（元）",
    "退款批次号/请求号",
    "服务费（元）",
    "分润（元）",
    "备注",
]
TIME = "%Y-%m-%d %H:%M:%S"
#: ways to damage the next file served (used up one each)
DAMAGE = ("bill_bad_zip", "bill_wrong_encoding", "bill_other_day", "bill_no_detail")


@dataclass
class BillEdits:
    """Standing changes to the bills the ledger gives (kept until ``clear``)."""

    drop: set[str] = field(default_factory=set)  # out_request_no left off
    amount: dict[str, int] = field(default_factory=dict)  # out_request_no -> fen shown
    next_day: set[str] = field(default_factory=set)  # shown a day later
    extra: list[dict[str, Any]] = field(default_factory=list)  # rows the portal never asked for
    twice: set[str] = field(default_factory=set)  # shown twice
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clear(self) -> None:
        with self.lock:
            self.drop.clear()
            self.amount.clear()
            self.next_day.clear()
            self.extra.clear()
            self.twice.clear()


def refund_rows(trades: list[Any], edits: BillEdits, day: date) -> list[dict[str, Any]]:
    """The refunds the bill of ``day`` shows: the ledger's, as the edits change them."""
    rows: list[dict[str, Any]] = []
    with edits.lock:
        for trade in trades:
            for key, refund in list(trade.refunds.items()):
                if key in edits.drop:
                    continue
                at = datetime.strptime(refund["gmt_refund"], TIME)
                if key in edits.next_day:
                    at += timedelta(days=1)
                row = {
                    "trade_no": trade.trade_no,
                    "out_trade_no": trade.out_trade_no,
                    "out_request_no": key,
                    "total_fen": trade.total_fen,
                    "amount_fen": edits.amount.get(key, refund["amount_fen"]),
                    "at": at,
                    "created": trade.gmt_payment,
                }
                rows.extend([row] * (2 if key in edits.twice else 1))
        rows.extend(dict(r) for r in edits.extra)
    return sorted((r for r in rows if r["at"].date() == day), key=lambda r: r["at"])


def detail_csv(rows: list[dict[str, Any]], day: date, shown_day: date | None = None) -> str:
    """The 业务明细 file's text (before encoding)."""
    start = shown_day or day
    end = start + timedelta(days=1)
    lines = [
        "#支付宝业务明细查询",
        f"#账号：[{PID}0156]",
        f"#起始日期：[{start:%Y年%m月%d日} 00:00:00]   终止日期：[{end:%Y年%m月%d日} 00:00:00]",
        "#-----------------------------------------业务明细列表----------------------------------------",
        ",".join(COLUMNS),
    ]
    for r in rows:
        values = {
            "支付宝交易号": r["trade_no"] + "\t",
            "商户订单号": r["out_trade_no"] + "\t",
            "业务类型": "退款",
            "商品名称": "点卡",
            "创建时间": r["created"],
            "完成时间": r["at"].strftime(TIME),
            "订单金额（元）": fen_to_yuan(r["total_fen"]),
            "商家实收（元）": "-" + fen_to_yuan(r["amount_fen"]),
            "退款批次号/请求号": r["out_request_no"] + "\t",
            "服务费（元）": "0.00",
            "分润（元）": "0.00",
        }
        lines.append(",".join(values.get(c, "") for c in COLUMNS))
    lines += [
        "#-----------------------------------------业务明细列表结束------------------------------------",
        f"#交易合计：0笔，退款合计：{len(rows)}笔",
        f"#导出时间：[{datetime.now():%Y年%m月%d日 %H:%M:%S}]",
    ]
    return "\r\n".join(lines) + "\r\n"


def summary_csv(rows: list[dict[str, Any]], day: date) -> str:
    """The 业务明细(汇总) file's text: one line of totals."""
    refunded = sum(r["amount_fen"] for r in rows)
    return "\r\n".join(
        [
            "#支付宝业务汇总查询",
            f"#账号：[{PID}0156]",
            f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]",
            "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）",
            f"合计,,0,{len(rows)},0.00,-{fen_to_yuan(refunded)}",
            "#-----------------------------------------业务汇总列表结束------------------------------------",
        ]
    )


def bill_zip(rows: list[dict[str, Any]], day: date, damage: str = "") -> bytes:
    """The ZIP Alipay's download URL serves, damaged as ``damage`` (one of DAMAGE) says."""
    if damage == "bill_bad_zip":
        return b"PK\x03\x04 this is not a whole archive"
    shown = day + timedelta(days=1) if damage == "bill_other_day" else None
    encoding = "utf-8" if damage == "bill_wrong_encoding" else "gbk"
    stem = f"{PID}0156_{day:%Y%m%d}"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        if damage != "bill_no_detail":
            zf.writestr(f"{stem}_业务明细.csv", detail_csv(rows, day, shown).encode(encoding))
        zf.writestr(f"{stem}_业务明细(汇总).csv", summary_csv(rows, day).encode(encoding))
    return out.getvalue()
