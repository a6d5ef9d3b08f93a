"""Reading WeChat Pay's daily refund bill (``bill_type=REFUND``) once it is downloaded.

The file is checked against the ``hash_value`` (SHA1) the signed answer gave, after
un-gzipping it when it was asked for gzipped; then read as UTF-8 CSV: a column row, detail
rows whose every field starts with a backquote, a totals column row and a totals row. Columns
are found by name. A refund row names our ``out_refund_no`` (商户退款单号), WeChat Pay's
``refund_id`` (微信退款单号), the amount (退款金额, yuan) and when it was applied for
(退款申请时间, Beijing: the day the bill lists it under). Refunds the bill shows as closed or
changed moved no money and are left out. Anything that does not read exactly so refuses it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import hmac
import re
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from zoneinfo import ZoneInfo

from portal.plugins.channels import BillRefused, BillRow

CHINA = ZoneInfo("Asia/Shanghai")
COL_APPLIED = "退款申请时间"
COL_REFUND_ID = "微信退款单号"
COL_OUT_REFUND_NO = "商户退款单号"
COL_AMOUNT = "退款金额"
COL_STATUS = "退款状态"
TOTALS_FIRST = "总交易单数"
#: refund statuses under which money left the merchant's account
MOVED = frozenset({"SUCCESS", "PROCESSING"})
YUAN = re.compile(r"(\d{1,12})\.(\d{2})")
#: the most a bill may hold once un-gzipped (a gzip bomb is refused)
MAX_BILL_BYTES = 512 << 20


def unpacked(data: bytes, gzipped: bool, hash_type: str, hash_value: str) -> bytes:
    """The bill file, un-gzipped when asked, once its SHA1 matches ``hash_value``."""
    if hash_type.upper() != "SHA1":
        raise BillRefused(f"unknown hash_type {hash_type!r}")
    if gzipped:
        try:
            inflate = zlib.decompressobj(wbits=31)
            data = inflate.decompress(data, MAX_BILL_BYTES + 1)
            if len(data) > MAX_BILL_BYTES or not inflate.eof:
                raise BillRefused("the gzip file is cut short or larger than any day's bill")
        except (zlib.error, gzip.BadGzipFile) as exc:
            raise BillRefused(f"not a readable gzip file: {exc}") from None
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if not hmac.compare_digest(digest, hash_value.strip().lower()):
        raise BillRefused("the bill's SHA1 does not match the hash_value WeChat Pay gave")
    return data


def refund_rows(data: bytes, day: date) -> Iterator[BillRow]:
    """The refunds of the (checked, unpacked) bill ``data`` for the Beijing ``day``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BillRefused(f"the bill is not UTF-8 text: {exc}") from None
    rows = csv.reader(line for line in text.splitlines() if line.strip())
    header = next(rows, None)
    if not header:
        raise BillRefused("the bill has no column row")
    header = [h.strip() for h in header]
    try:
        at = {c: header.index(c) for c in (COL_APPLIED, COL_REFUND_ID, COL_OUT_REFUND_NO)}
        at[COL_AMOUNT] = header.index(COL_AMOUNT)
        at[COL_STATUS] = header.index(COL_STATUS)
    except ValueError as exc:
        raise BillRefused(f"the bill lacks a column: {exc}") from None
    totals = False
    for number, fields in enumerate(rows, start=2):
        if fields and fields[0].strip() == TOTALS_FIRST:
            totals = True
            break
        if len(fields) != len(header):
            raise BillRefused(f"row {number} has {len(fields)} fields, not {len(header)}")
        if not all(f.startswith("`") for f in fields):
            raise BillRefused(f"row {number} has a field without its backquote")
        values = [f[1:].strip() for f in fields]
        if values[at[COL_STATUS]] not in MOVED:
            continue
        yield _row(values, at, number, day)
    if not totals:
        raise BillRefused("the bill ends without its totals: it is cut short")


def _row(values: list[str], at: dict[str, int], number: int, day: date) -> BillRow:
    try:
        amount = YUAN.fullmatch(values[at[COL_AMOUNT]])
        if amount is None:
            raise ValueError(f"not an amount in yuan: {values[at[COL_AMOUNT]]!r}")
        applied = datetime.strptime(values[at[COL_APPLIED]], "%Y-%m-%d %H:%M:%S")
        applied = applied.replace(tzinfo=CHINA)
        row = BillRow(
            values[at[COL_OUT_REFUND_NO]],
            values[at[COL_REFUND_ID]],
            int(amount[1]) * 100 + int(amount[2]),
            applied,
        )
    except (ValueError, TypeError) as exc:
        raise BillRefused(f"row {number} cannot be read: {exc}") from None
    if applied.date() != day:
        raise BillRefused(f"row {number} is dated {applied.date()}, not {day}: another day's bill")
    return row
