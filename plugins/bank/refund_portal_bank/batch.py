"""Payout batch files for the bank: a bank CSV and an ISO 20022 pain.001.001.03 file.

Both writers are pure functions of their input (and, for pain.001, of the creation time
and message id), so exporting the same payouts twice gives byte-identical files.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from refund_portal_bank.amounts import fen_to_yuan
from refund_portal_bank.records import Debtor, Transfer, is_bic
from refund_portal_bank.xmlutil import add, new_document, serialize

PAIN001_NS = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03"
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

CSV_COLUMNS = (
    "end_to_end_id",
    "creditor_name",
    "account_no",
    "bank_name",
    "amount",
    "currency",
    "remittance_info",
)


class BatchError(ValueError):
    """A batch that cannot be written (empty, duplicate ids, mixed currencies)."""


def default_now() -> datetime:
    """The current time in China Standard Time, to the second."""
    return datetime.now(CHINA_STANDARD_TIME).replace(microsecond=0)


def message_id(transfers: Sequence[Transfer], now: datetime) -> str:
    """A batch message id (Max35Text) derived from the creation time and the transfers.

    ``RP`` + ``YYYYMMDDhhmmss`` + ``-`` + 12 hex digits of a digest of the end-to-end ids
    and amounts: 29 characters, the same for the same batch at the same time.
    """
    digest = hashlib.sha256()
    for t in transfers:
        digest.update(f"{t.end_to_end_id}\x1f{t.amount_fen}\x1f{t.currency}\x1e".encode())
    return f"RP{now:%Y%m%d%H%M%S}-{digest.hexdigest()[:12].upper()}"


def _check(transfers: Sequence[Transfer], currency: str) -> None:
    if not transfers:
        raise BatchError("there is nothing to export: the batch is empty")
    seen: set[str] = set()
    for t in transfers:
        if t.end_to_end_id in seen:
            raise BatchError(f"end-to-end id {t.end_to_end_id!r} appears twice in the batch")
        seen.add(t.end_to_end_id)
        if t.currency != currency:
            raise BatchError(f"{t.end_to_end_id}: currency {t.currency} is not {currency}")


def build_csv(transfers: Sequence[Transfer], currency: str) -> bytes:
    """A bank CSV: UTF-8 with a BOM (so Excel reads the Chinese names), CRLF line ends."""
    _check(transfers, currency)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for t in transfers:
        writer.writerow(
            (
                t.end_to_end_id,
                t.creditor.name,
                t.creditor.account_no,
                t.creditor.bank_name,
                fen_to_yuan(t.amount_fen),
                t.currency,
                t.remittance,
            )
        )
    return out.getvalue().encode("utf-8-sig")


def build_pain001(
    transfers: Sequence[Transfer],
    debtor: Debtor,
    *,
    now: datetime | None = None,
    msg_id: str | None = None,
) -> bytes:
    """A pain.001.001.03 CustomerCreditTransferInitiation with one payment information block.

    Every transaction is booked on its own (``BtchBookg`` false) so the statement shows one
    entry per end-to-end id; charges are borne by the debtor (``ChrgBr`` DEBT) so the buyer
    receives the full refund.
    """
    _check(transfers, debtor.currency)
    created = (now or default_now()).replace(microsecond=0)
    mid = msg_id or message_id(transfers, created)
    if not 1 <= len(mid) <= 31:  # leaves room for the "-P1" payment information id
        raise BatchError("msg_id must be 1..31 characters")
    count = str(len(transfers))
    total = fen_to_yuan(sum(t.amount_fen for t in transfers))

    doc = new_document(PAIN001_NS)
    init = add(doc, "CstmrCdtTrfInitn")
    hdr = add(init, "GrpHdr")
    add(hdr, "MsgId", mid)
    add(hdr, "CreDtTm", created.isoformat(timespec="seconds"))
    add(hdr, "NbOfTxs", count)
    add(hdr, "CtrlSum", total)
    add(add(hdr, "InitgPty"), "Nm", debtor.name)

    pmt = add(init, "PmtInf")
    add(pmt, "PmtInfId", f"{mid}-P1")
    add(pmt, "PmtMtd", "TRF")
    add(pmt, "BtchBookg", "false")
    add(pmt, "NbOfTxs", count)
    add(pmt, "CtrlSum", total)
    add(pmt, "ReqdExctnDt", created.date().isoformat())
    add(add(pmt, "Dbtr"), "Nm", debtor.name)
    dbtr_acct = add(pmt, "DbtrAcct")
    add(add(add(dbtr_acct, "Id"), "Othr"), "Id", debtor.account)
    add(dbtr_acct, "Ccy", debtor.currency)
    dbtr_agt = add(add(pmt, "DbtrAgt"), "FinInstnId")
    if is_bic(debtor.agent):
        add(dbtr_agt, "BIC", debtor.agent)
    else:
        add(add(dbtr_agt, "Othr"), "Id", debtor.agent)
    add(pmt, "ChrgBr", "DEBT")

    for t in transfers:
        tx = add(pmt, "CdtTrfTxInf")
        add(add(tx, "PmtId"), "EndToEndId", t.end_to_end_id)
        add(add(tx, "Amt"), "InstdAmt", fen_to_yuan(t.amount_fen), Ccy=t.currency)
        agent = add(add(tx, "CdtrAgt"), "FinInstnId")
        add(agent, "Nm", t.creditor.bank_name)
        if t.creditor.bank_code:
            add(add(agent, "Othr"), "Id", t.creditor.bank_code)
        add(add(tx, "Cdtr"), "Nm", t.creditor.name)
        add(add(add(add(tx, "CdtrAcct"), "Id"), "Othr"), "Id", t.creditor.account_no)
        add(add(tx, "RmtInf"), "Ustrd", t.remittance)
    return serialize(doc)
