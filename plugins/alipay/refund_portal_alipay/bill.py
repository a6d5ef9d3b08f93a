"""Reading Alipay's daily trade bill: the ZIP from ``bill_download_url``, its GBK detail CSV.

The detail file (业务明细, not the summary 业务明细(汇总)) has ``#`` lines above the column
row (the account, the day it covers) and below the rows (totals, export time). Columns are
found by their names, not their places. A refund is a row of business type 退款: its
``out_request_no`` in 退款批次号/请求号, its amount the (negative) merchant receipt, its time
the completion time (Beijing). Anything that does not read exactly so refuses the bill.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from portal.plugins.channels import BillRefused, BillRow
from refund_portal_alipay.amounts import yuan_to_fen

CHINA = ZoneInfo("Asia/Shanghai")
DETAIL_SUFFIX = "业务明细.csv"
SUMMARY_MARK = "汇总"
REFUND_TYPE = "退款"
COL_TRADE = "支付宝交易号"
COL_TYPE = "业务类型"
COL_DONE = "完成时间"
COL_RECEIVED = "商家实收（元）"
COL_REQUEST = "退款批次号/请求号"
#: a refund's merchant receipt: negative yuan with two decimals, nothing else
REFUND_RECEIPT = re.compile(r"-(\d{1,12}\.\d{2})")
START_LINE = re.compile(r"#起始日期：\[(\d{4})年(\d{2})月(\d{2})日")
#: the most the detail file may hold once unpacked (a ZIP bomb is refused)
MAX_DETAIL_BYTES = 512 << 20


def _name(info: zipfile.ZipInfo) -> str:
    """The member's name; Alipay writes GBK names without the UTF-8 flag."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def detail_text(data: bytes) -> str:
    """The detail CSV's text out of the ZIP; BillRefused when there is no such file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            details = [
                i
                for i in zf.infolist()
                if _name(i).endswith(DETAIL_SUFFIX) and SUMMARY_MARK not in _name(i)
            ]
            if len(details) != 1:
                raise BillRefused(f"the archive holds {len(details)} detail files, not one")
            if details[0].file_size > MAX_DETAIL_BYTES:
                raise BillRefused("the detail file is larger than any day's bill")
            raw = zf.read(details[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise BillRefused(f"not a readable ZIP archive: {exc}") from None
    try:
        return raw.decode("gbk")
    except UnicodeDecodeError as exc:
        raise BillRefused(f"the detail file is not GBK text: {exc}") from None


def refund_rows(data: bytes, day: date) -> Iterator[BillRow]:
    """The refunds of the bill ``data`` (the downloaded ZIP) for the Beijing ``day``."""
    lines = detail_text(data).splitlines()
    covered = next((m for m in map(START_LINE.match, lines) if m), None)
    if covered is None:
        raise BillRefused("the bill does not say which day it covers")
    shown = date(int(covered[1]), int(covered[2]), int(covered[3]))
    if shown != day:
        raise BillRefused(f"the bill is for {shown}, not {day}")
    body = [line for line in lines if line and not line.startswith("#")]
    if not body:
        raise BillRefused("the bill has no column row")
    reader = csv.reader(body)
    header = [h.strip() for h in next(reader)]
    try:
        at = {name: header.index(name) for name in (COL_TYPE, COL_DONE, COL_RECEIVED)}
        at[COL_REQUEST] = header.index(COL_REQUEST)
        at[COL_TRADE] = header.index(COL_TRADE)
    except ValueError as exc:
        raise BillRefused(f"the bill lacks a column: {exc}") from None
    for number, fields in enumerate(reader, start=2):
        if len(fields) != len(header):
            raise BillRefused(f"row {number} has {len(fields)} fields, not {len(header)}")
        if fields[at[COL_TYPE]].strip() != REFUND_TYPE:
            continue
        yield _row(fields, at, number)


def _row(fields: list[str], at: dict[str, int], number: int) -> BillRow:
    try:
        received = fields[at[COL_RECEIVED]].strip()
        amount = REFUND_RECEIPT.fullmatch(received)
        if amount is None:
            raise ValueError(f"a refund's receipt must be negative yuan: {received!r}")
        fen = yuan_to_fen(amount[1])
        done = datetime.strptime(fields[at[COL_DONE]].strip(), "%Y-%m-%d %H:%M:%S")
        return BillRow(
            fields[at[COL_REQUEST]].strip(),
            fields[at[COL_TRADE]].strip(),
            fen,
            done.replace(tzinfo=CHINA),
        )
    except (ValueError, TypeError) as exc:
        raise BillRefused(f"row {number} cannot be read: {exc}") from None
