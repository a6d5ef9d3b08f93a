"""A bank simulator: the camt.053 statement a bank would send back for a pain.001 batch.

It reads a pain.001.001.03 file as a bank would (rejecting one whose NbOfTxs or CtrlSum do
not add up), books every credit transfer as a debit on the merchant's account and, for the
end-to-end ids in ``returned``, books the transfer and then its return a day later (a
credit with the return reason, as when the buyer's card account is closed: "AC04").

Command line (for the demo)::

    refund-portal-bank-statement batch.xml --return RP123=AC04 > statement.xml
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from refund_portal_bank.amounts import AmountError, fen_to_yuan, yuan_to_fen
from refund_portal_bank.batch import CHINA_STANDARD_TIME, PAIN001_NS
from refund_portal_bank.xmlutil import Finder, add, new_document, parse_untrusted, serialize

CAMT053_NS = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
OPENING_BALANCE_FEN = 100_000_000  # 1,000,000.00 on the demo account before the batch


class BankRejected(ValueError):
    """The simulated bank refuses the payment file."""


@dataclass(frozen=True, slots=True)
class _Payment:
    end_to_end_id: str
    amount_fen: int
    currency: str
    creditor_name: str
    creditor_account: str


@dataclass(frozen=True, slots=True)
class _Batch:
    msg_id: str
    pmt_inf_id: str
    execution_date: date
    debtor_account: str
    currency: str
    payments: tuple[_Payment, ...]


def _fen(text: str, where: str) -> int:
    try:
        return yuan_to_fen(text)
    except AmountError as exc:
        raise BankRejected(f"{where}: {exc}") from None


def read_pain001(data: bytes) -> _Batch:
    """Read and check a pain.001.001.03 batch; BankRejected if a bank would refuse it."""
    try:
        root = parse_untrusted(data)
    except ValueError as exc:
        raise BankRejected(str(exc)) from None
    if root.tag != f"{{{PAIN001_NS}}}Document":
        raise BankRejected(f"not a pain.001.001.03 document: {root.tag}")
    f = Finder(PAIN001_NS)
    init = f.find(root, "CstmrCdtTrfInitn")
    if init is None:
        raise BankRejected("no CstmrCdtTrfInitn element")
    msg_id = f.text(init, "GrpHdr/MsgId")
    blocks = f.findall(init, "PmtInf")
    if not msg_id or len(blocks) != 1:
        raise BankRejected("expected a MsgId and exactly one PmtInf block")
    pmt = blocks[0]

    payments: list[_Payment] = []
    for tx in f.findall(pmt, "CdtTrfTxInf"):
        e2e = f.text(tx, "PmtId/EndToEndId")
        amt = f.find(tx, "Amt/InstdAmt")
        if not e2e or amt is None:
            raise BankRejected("a transaction lacks its EndToEndId or InstdAmt")
        payments.append(
            _Payment(
                end_to_end_id=e2e,
                amount_fen=_fen(amt.text or "", e2e),
                currency=amt.get("Ccy", ""),
                creditor_name=f.text(tx, "Cdtr/Nm"),
                creditor_account=f.text(tx, "CdtrAcct/Id/Othr/Id"),
            )
        )
    if not payments:
        raise BankRejected("the batch has no transactions")
    ids = [p.end_to_end_id for p in payments]
    if len(set(ids)) != len(ids):
        raise BankRejected("duplicate EndToEndId in the batch")
    total = sum(p.amount_fen for p in payments)
    hdr = f.find(init, "GrpHdr")
    if hdr is None:
        raise BankRejected("no GrpHdr element")
    for scope, el in (("GrpHdr", hdr), ("PmtInf", pmt)):
        if f.text(el, "NbOfTxs") != str(len(payments)):
            raise BankRejected(f"{scope}/NbOfTxs does not match the {len(payments)} transactions")
        if _fen(f.text(el, "CtrlSum"), f"{scope}/CtrlSum") != total:
            raise BankRejected(f"{scope}/CtrlSum does not match the sum of the transactions")
    currencies = {p.currency for p in payments}
    if len(currencies) != 1:
        raise BankRejected("the batch mixes currencies")
    try:
        execution_date = date.fromisoformat(f.text(pmt, "ReqdExctnDt"))
    except ValueError:
        raise BankRejected("ReqdExctnDt is not a date") from None
    return _Batch(
        msg_id=msg_id,
        pmt_inf_id=f.text(pmt, "PmtInfId"),
        execution_date=execution_date,
        debtor_account=f.text(pmt, "DbtrAcct/Id/Othr/Id") or f.text(pmt, "DbtrAcct/Id/IBAN"),
        currency=currencies.pop(),
        payments=tuple(payments),
    )


def _balance(stmt: ET.Element, code: str, fen: int, ccy: str, on: date) -> None:
    bal = add(stmt, "Bal")
    add(add(add(bal, "Tp"), "CdOrPrtry"), "Cd", code)
    add(bal, "Amt", fen_to_yuan(abs(fen)), Ccy=ccy)
    add(bal, "CdtDbtInd", "CRDT" if fen >= 0 else "DBIT")
    add(add(bal, "Dt"), "Dt", on.isoformat())


def _entry(
    stmt: ET.Element,
    batch: _Batch,
    payment: _Payment,
    *,
    ref: str,
    booked: date,
    credit: bool,
    reason: str = "",
) -> None:
    ntry = add(stmt, "Ntry")
    add(ntry, "NtryRef", ref)
    add(ntry, "Amt", fen_to_yuan(payment.amount_fen), Ccy=payment.currency)
    add(ntry, "CdtDbtInd", "CRDT" if credit else "DBIT")
    add(ntry, "Sts", "BOOK")
    add(add(ntry, "BookgDt"), "Dt", booked.isoformat())
    add(add(ntry, "ValDt"), "Dt", booked.isoformat())
    add(ntry, "AcctSvcrRef", ref)
    domain = add(add(ntry, "BkTxCd"), "Domn")
    add(domain, "Cd", "PMNT")
    family = add(domain, "Fmly")
    add(family, "Cd", "ICDT")
    add(family, "SubFmlyCd", "RRTN" if credit else "DMCT")
    tx = add(add(ntry, "NtryDtls"), "TxDtls")
    refs = add(tx, "Refs")
    add(refs, "MsgId", batch.msg_id)
    add(refs, "AcctSvcrRef", ref)
    if batch.pmt_inf_id:
        add(refs, "PmtInfId", batch.pmt_inf_id)
    add(refs, "EndToEndId", payment.end_to_end_id)
    add(
        add(add(tx, "AmtDtls"), "InstdAmt"),
        "Amt",
        fen_to_yuan(payment.amount_fen),
        Ccy=payment.currency,
    )
    parties = add(tx, "RltdPties")
    if payment.creditor_name:
        add(add(parties, "Cdtr"), "Nm", payment.creditor_name)
    if payment.creditor_account:
        add(add(add(add(parties, "CdtrAcct"), "Id"), "Othr"), "Id", payment.creditor_account)
    if credit:
        rtr = add(tx, "RtrInf")
        rsn = add(rtr, "Rsn")
        if len(reason) <= 4 and reason.isalnum():
            add(rsn, "Cd", reason.upper())
        else:
            add(rsn, "Prtry", reason[:35])
        add(rtr, "AddtlInf", "Payment returned by the creditor's bank")


def statement_for(
    pain001: bytes,
    returned: Mapping[str, str] | None = None,
    booked_on: date | str | None = None,
) -> bytes:
    """The camt.053.001.02 statement for a pain.001 batch, as the bank would send it.

    Every transfer is booked as a debit on ``booked_on`` (default: the batch's requested
    execution date). Each end-to-end id in ``returned`` (id -> ISO return reason code, e.g.
    "AC04") is also booked back as a credit with that reason the next day. Deterministic.
    """
    batch = read_pain001(pain001)
    returned = dict(returned or {})
    known = {p.end_to_end_id for p in batch.payments}
    unknown = sorted(set(returned) - known)
    if unknown:
        raise ValueError(f"returned ids are not in the batch: {', '.join(unknown)}")
    if any(not reason for reason in returned.values()):
        raise ValueError("every returned payment needs a reason code")
    if booked_on is None:
        day = batch.execution_date
    elif isinstance(booked_on, str):
        day = date.fromisoformat(booked_on)
    else:
        day = booked_on
    last_day = day + timedelta(days=1) if returned else day
    ccy = batch.currency

    doc = new_document(CAMT053_NS)
    report = add(doc, "BkToCstmrStmt")
    created = datetime.combine(last_day, time(18, 0), CHINA_STANDARD_TIME)
    hdr = add(report, "GrpHdr")
    add(hdr, "MsgId", f"STMT-{batch.msg_id}"[:35])
    add(hdr, "CreDtTm", created.isoformat())
    stmt = add(report, "Stmt")
    add(stmt, "Id", f"S-{batch.msg_id}"[:35])
    add(stmt, "CreDtTm", created.isoformat())
    acct = add(stmt, "Acct")
    add(add(add(acct, "Id"), "Othr"), "Id", batch.debtor_account or "UNKNOWN")
    add(acct, "Ccy", ccy)

    debits = sum(p.amount_fen for p in batch.payments)
    credits = sum(p.amount_fen for p in batch.payments if p.end_to_end_id in returned)
    opening = max(OPENING_BALANCE_FEN, debits)
    _balance(stmt, "OPBD", opening, ccy, day)
    _balance(stmt, "CLBD", opening - debits + credits, ccy, last_day)

    for n, payment in enumerate(batch.payments, start=1):
        _entry(stmt, batch, payment, ref=f"BK{n:06d}", booked=day, credit=False)
    for n, payment in enumerate(batch.payments, start=1):
        if payment.end_to_end_id in returned:
            _entry(
                stmt,
                batch,
                payment,
                ref=f"RT{n:06d}",
                booked=last_day,
                credit=True,
                reason=returned[payment.end_to_end_id],
            )
    return serialize(doc)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the statement for a pain.001 file to standard output."""
    parser = argparse.ArgumentParser(
        prog="refund-portal-bank-statement",
        description="Write the camt.053 statement a bank would send back for a pain.001 batch.",
    )
    parser.add_argument("pain001", help="the pain.001 batch file")
    parser.add_argument(
        "--return",
        dest="returns",
        action="append",
        default=[],
        metavar="E2E=CODE",
        help="book this end-to-end id and then return it with the reason code (e.g. AC04)",
    )
    parser.add_argument("--booked-on", help="booking date YYYY-MM-DD (default: ReqdExctnDt)")
    args = parser.parse_args(argv)
    returned: dict[str, str] = {}
    for item in args.returns:
        e2e, sep, code = item.partition("=")
        if not sep or not e2e or not code:
            parser.error(f"--return wants E2E=CODE, not {item!r}")
        returned[e2e] = code
    with open(args.pain001, "rb") as fh:
        data = fh.read()
    try:
        out = statement_for(data, returned, args.booked_on)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
