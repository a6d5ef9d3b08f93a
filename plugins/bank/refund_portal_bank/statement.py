"""Reading a bank's camt.053 statement into lines matched to payouts by end-to-end id.

Rules (ISO 20022 camt.053.001.02; later camt.053.001.xx versions read the same way):

* every statement (``Stmt``) must be for the configured debtor account (``Acct/Id``, as
  ``Othr/Id`` or ``IBAN``): a statement for another account, or naming none, is refused whole;
* only booked entries count (``Sts`` BOOK); pending and informational ones are skipped;
* only entries in the channel's currency count (the channel pays in one currency);
* each line keeps its entry's own reference (``AcctSvcrRef``, else ``NtryRef``): a transfer
  the bank booked twice is two lines, the same entry in two statements one;
* only transactions carrying an ``EndToEndId`` (other than "NOTPROVIDED") count;
* a debit that is not a reversal is a payout that left the account: SUCCEEDED;
* a credit that reverses an earlier entry (``RvslInd`` true) or carries return information
  (``RtrInf``) is a payout that came back: FAILED, with the return reason as message;
* anything else (an incoming payment from a customer, say) is not ours and is skipped.

An entry with one transaction is matched with the entry's amount (what was booked, after
any charges on a return); an entry batching several transactions needs each one's own
amount (``AmtDtls``), else the statement is refused rather than guessed at.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from portal.plugins.channels import ResultStatus, StatementLine
from refund_portal_bank.amounts import AmountError, yuan_to_fen
from refund_portal_bank.xmlutil import Finder, parse_untrusted, split_tag

CAMT053_PREFIX = "urn:iso:std:iso:20022:tech:xsd:camt.053.001."

#: Common ISO 20022 return reason codes (ExternalReturnReason1Code), for operators.
RETURN_REASONS = {
    "AC01": "incorrect account number",
    "AC03": "invalid creditor account number",
    "AC04": "closed account",
    "AC06": "blocked account",
    "AG01": "transaction forbidden on this account",
    "AG02": "invalid bank operation code",
    "AM04": "insufficient funds",
    "AM05": "duplicate payment",
    "BE01": "creditor name does not match the account",
    "MD07": "account holder deceased",
    "MS02": "refused by the creditor",
    "MS03": "reason not specified",
    "RC01": "invalid bank identifier",
    "RR01": "missing debtor account or identification",
    "RR04": "regulatory reason",
}


class StatementError(ValueError):
    """A statement that is not a well-formed, readable camt.053 document."""


def _amount(el: ET.Element | None, where: str) -> tuple[int, str]:
    if el is None:
        raise StatementError(f"{where}: amount is missing")
    try:
        return yuan_to_fen(el.text or ""), (el.get("Ccy") or "").strip()
    except AmountError as exc:
        raise StatementError(f"{where}: {exc}") from None


def _tx_amount(f: Finder, tx: ET.Element, where: str) -> tuple[int, str]:
    for path in ("AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
        el = f.find(tx, path)
        if el is not None:
            return _amount(el, where)
    raise StatementError(
        f"{where}: an entry booking several transactions gives no amount for this one"
    )


def _status(f: Finder, entry: ET.Element) -> str:
    status = f.find(entry, "Sts")
    if status is None:
        return ""
    code = f.text(status, "Cd")  # camt.053.001.08 and later: <Sts><Cd>BOOK</Cd></Sts>
    return (code or (status.text or "")).strip().upper()


def _booking_date(f: Finder, entry: ET.Element, where: str) -> str:
    text = f.text(entry, "BookgDt/Dt") or f.text(entry, "BookgDt/DtTm")[:10]
    if not text:
        return ""
    try:
        return date.fromisoformat(text[:10]).isoformat()
    except ValueError:
        raise StatementError(f"{where}: booking date {text!r} is not a date") from None


def _return_message(f: Finder, tx: ET.Element) -> str:
    info = f.find(tx, "RtrInf")
    if info is None:
        return "reversed by the bank"
    code = f.text(info, "Rsn/Cd") or f.text(info, "Rsn/Prtry")
    parts = ["returned by the bank"]
    if code:
        label = RETURN_REASONS.get(code.upper())
        parts.append(f": {code}" + (f" ({label})" if label else ""))
    extra = [(el.text or "").strip() for el in f.findall(info, "AddtlInf")]
    extra = [e for e in extra if e]
    if extra:
        parts.append(" - " + " ".join(extra))
    return "".join(parts)


def _is_true(text: str) -> bool:
    return text.strip().lower() in ("true", "1")


def _check_account(f: Finder, stmt: ET.Element, account: str, s_no: int) -> None:
    found = f.text(stmt, "Acct/Id/Othr/Id") or f.text(stmt, "Acct/Id/IBAN")
    found = "".join(found.split())
    if not found:
        raise StatementError(f"statement {s_no} names no account (Acct/Id)")
    if found.upper() != account.upper():
        raise StatementError(
            f"statement {s_no} is for account {found!r}, not the configured debtor "
            f"account {account!r} (BANK_DEBTOR_ACCOUNT)"
        )


def parse_statement(data: bytes, currency: str, account: str) -> list[StatementLine]:
    """Parse a camt.053 file for debtor ``account`` into StatementLines (in document order).

    Raises StatementError for malformed or hostile XML, a document that is not camt.053,
    a statement for another account, and amounts that are not whole positive fen.
    """
    try:
        root = parse_untrusted(data)
    except ValueError as exc:
        raise StatementError(str(exc)) from None
    ns, local = split_tag(root.tag)
    if local != "Document" or not ns.startswith(CAMT053_PREFIX):
        raise StatementError(
            f"not a camt.053 bank statement: the root element is {local!r} "
            f"in namespace {ns or '(none)'!r}"
        )
    f = Finder(ns)
    report = f.find(root, "BkToCstmrStmt")
    if report is None:
        raise StatementError("not a camt.053 bank statement: no BkToCstmrStmt element")

    lines: list[StatementLine] = []
    statements = f.findall(report, "Stmt")
    for s_no, stmt in enumerate(statements, start=1):
        _check_account(f, stmt, account, s_no)
    for s_no, stmt in enumerate(statements, start=1):
        for n_no, entry in enumerate(f.findall(stmt, "Ntry"), start=1):
            where = f"statement {s_no}, entry {n_no}"
            if _status(f, entry) != "BOOK":
                continue
            amount_el = f.find(entry, "Amt")
            if amount_el is not None and (amount_el.get("Ccy") or "").strip() != currency:
                continue  # another currency: never one of this channel's payouts
            entry_fen, _ = _amount(amount_el, where)
            direction = f.text(entry, "CdtDbtInd").upper()
            reversal = _is_true(f.text(entry, "RvslInd"))
            booked_on = _booking_date(f, entry, where)
            entry_ref = (f.text(entry, "AcctSvcrRef") or f.text(entry, "NtryRef")).strip()
            txs = f.findall(entry, "NtryDtls/TxDtls")
            for tx in txs:
                e2e = f.text(tx, "Refs/EndToEndId")
                if not e2e or e2e.upper() == "NOTPROVIDED":
                    continue
                here = f"{where}, end-to-end id {e2e}"
                if len(txs) == 1:
                    fen, ccy = entry_fen, currency
                else:
                    fen, ccy = _tx_amount(f, tx, here)
                if ccy != currency:
                    continue
                if direction == "DBIT" and not reversal:
                    status = ResultStatus.SUCCEEDED
                    message = f"booked on {booked_on}" if booked_on else "booked"
                elif direction == "CRDT" and (reversal or f.find(tx, "RtrInf") is not None):
                    status = ResultStatus.FAILED
                    message = _return_message(f, tx)
                else:
                    continue
                lines.append(
                    StatementLine(
                        idempotency_key=e2e,
                        amount_fen=fen,
                        status=status,
                        booked_on=booked_on,
                        message=message,
                        entry_ref=entry_ref[:35],
                    )
                )
    return lines
