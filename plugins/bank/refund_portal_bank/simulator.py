"""A bank simulator: the camt.053 statement a bank would send back for a pain.001 batch.

It reads a pain.001.001.03 file as a bank would (rejecting one whose NbOfTxs or CtrlSum do
not add up), books every credit transfer as a debit on the merchant's account and, for the
end-to-end ids in ``returned``, books the transfer and then its return a day later (a
credit with the return reason, as when the buyer's card account is closed: "AC04").

Told to (``Faults``), it books the statement a faulty bank would send, for reconciliation's
tests: a transfer left out, another amount booked than was sent, a transfer booked the next
day, one booked twice (two entries), a transfer nobody sent.

Command line (for the demo)::

    refund-portal-bank-statement batch.xml --return RP123=AC04 > statement.xml
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
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


@dataclass(frozen=True)
class Faults:
    """What a faulty bank does to a batch's statement, by end-to-end id."""

    #: transfers of the batch it never books
    dropped: Collection[str] = ()
    #: transfers it books with another amount: id -> fen added to what was sent
    changed: Mapping[str, int] = field(default_factory=dict)
    #: transfers it books the day after the others
    next_day: Collection[str] = ()
    #: transfers it books twice that day (two entries with their own references)
    twice: Collection[str] = ()
    #: transfers nobody sent that it books that day: id -> fen
    strangers: Mapping[str, int] = field(default_factory=dict)

    def check(self, known: set[str]) -> None:
        """ValueError unless every fault names a transfer of the batch (and every stranger
        one that is not)."""
        named = {*self.dropped, *self.changed, *self.next_day, *self.twice} - known
        if named:
            raise ValueError(f"faults name ids not in the batch: {', '.join(sorted(named))}")
        if set(self.strangers) & known:
            raise ValueError("a stranger's id is one of the batch's")
        if any(fen <= 0 for fen in self.strangers.values()):
            raise ValueError("a stranger's amount must be positive")


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


def _bookings(batch: _Batch, day: date, faults: Faults) -> list[tuple[_Payment, date]]:
    """What the bank books, in order: each transfer (with the faults in) and its day."""
    booked: list[tuple[_Payment, date]] = []
    for payment in batch.payments:
        if payment.end_to_end_id in faults.dropped:
            continue
        delta = faults.changed.get(payment.end_to_end_id, 0)
        if delta and payment.amount_fen + delta <= 0:
            raise ValueError(f"{payment.end_to_end_id}: a changed amount must stay positive")
        shown = replace(payment, amount_fen=payment.amount_fen + delta)
        when = day + timedelta(days=1) if payment.end_to_end_id in faults.next_day else day
        booked.append((shown, when))
        if payment.end_to_end_id in faults.twice:
            booked.append((shown, when))
    for e2e, fen in faults.strangers.items():
        booked.append((_Payment(e2e, fen, batch.currency, "", ""), day))
    return booked


def statement_for(
    pain001: bytes,
    returned: Mapping[str, str] | None = None,
    booked_on: date | str | None = None,
    faults: Faults | None = None,
) -> bytes:
    """The camt.053.001.02 statement for a pain.001 batch, as the bank would send it.

    Every transfer is booked as a debit on ``booked_on`` (default: the batch's requested
    execution date). Each end-to-end id in ``returned`` (id -> ISO return reason code, e.g.
    "AC04") is also booked back as a credit with that reason the next day. ``faults`` makes
    it the statement of a faulty bank (bookings moved to the next day are in the same
    document, as the returns are). Deterministic.
    """
    batch = read_pain001(pain001)
    returned = dict(returned or {})
    faults = faults or Faults()
    known = {p.end_to_end_id for p in batch.payments}
    unknown = sorted(set(returned) - known)
    if unknown:
        raise ValueError(f"returned ids are not in the batch: {', '.join(unknown)}")
    if any(not reason for reason in returned.values()):
        raise ValueError("every returned payment needs a reason code")
    faults.check(known)
    if booked_on is None:
        day = batch.execution_date
    elif isinstance(booked_on, str):
        day = date.fromisoformat(booked_on)
    else:
        day = booked_on
    bookings = _bookings(batch, day, faults)
    last_day = day + timedelta(days=1) if returned or faults.next_day else day
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

    debits = sum(p.amount_fen for p, _ in bookings)
    credits = sum(p.amount_fen for p in batch.payments if p.end_to_end_id in returned)
    opening = max(OPENING_BALANCE_FEN, debits)
    _balance(stmt, "OPBD", opening, ccy, day)
    _balance(stmt, "CLBD", opening - debits + credits, ccy, last_day)

    for n, (payment, when) in enumerate(bookings, start=1):
        _entry(stmt, batch, payment, ref=f"BK{n:06d}", booked=when, credit=False)
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


def _pairs(parser: argparse.ArgumentParser, flag: str, items: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            parser.error(f"{flag} wants E2E=VALUE, not {item!r}")
        found[key] = value
    return found


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
    fault = parser.add_argument_group("a faulty bank (for reconciliation)")
    fault.add_argument("--drop", action="append", default=[], metavar="E2E", help="never book it")
    fault.add_argument(
        "--change", action="append", default=[], metavar="E2E=FEN", help="book FEN more (or less)"
    )
    fault.add_argument(
        "--next-day", action="append", default=[], metavar="E2E", help="book it a day later"
    )
    fault.add_argument("--twice", action="append", default=[], metavar="E2E", help="book it twice")
    fault.add_argument(
        "--stranger",
        action="append",
        default=[],
        metavar="E2E=FEN",
        help="book a transfer nobody sent",
    )
    args = parser.parse_args(argv)
    returned = _pairs(parser, "--return", args.returns)
    try:
        faults = Faults(
            dropped=args.drop,
            changed={k: int(v) for k, v in _pairs(parser, "--change", args.change).items()},
            next_day=args.next_day,
            twice=args.twice,
            strangers={k: int(v) for k, v in _pairs(parser, "--stranger", args.stranger).items()},
        )
    except ValueError:
        parser.error("--change and --stranger want E2E=FEN, FEN a whole number")
    with open(args.pain001, "rb") as fh:
        data = fh.read()
    try:
        out = statement_for(data, returned, args.booked_on, faults)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
