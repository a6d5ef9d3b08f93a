"""The parties and transfers in a bank batch, and the checks that make them safe to write.

A refund request becomes a :class:`Transfer` only once every field a bank needs is present
and fits the ISO 20022 limits (EndToEndId Max35Text, account Max34Text, names Max140Text),
the currency is the channel's, and no text could break the XML or run as a spreadsheet
formula when the CSV is opened in Excel.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from portal.plugins.channels import RefundRequest

MAX_END_TO_END_ID = 35  # ISO 20022 Max35Text
MAX_NAME = 140  # Max140Text (names, remittance information)
MAX_ACCOUNT = 34  # Max34Text (GenericAccountIdentification1/Id)

# SWIFT "x" character set without the space, starting with a letter or digit (so that it
# is never read as a formula in a spreadsheet).
_END_TO_END_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9/\-?:().,'+]{0,34}$")
_ACCOUNT = re.compile(r"^\d{8,34}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BIC = re.compile(r"^[A-Z]{6}[A-Z2-9][A-NP-Z0-9](?:[A-Z0-9]{3})?$")
_BANK_CODE = re.compile(r"^[A-Za-z0-9]{1,35}$")
# Characters XML 1.0 cannot carry, plus the C0/C1 controls and line breaks we never want.
_BAD_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_FORMULA_START = ("=", "+", "-", "@")


class InvalidTransfer(ValueError):
    """A refund request that cannot be paid by bank transfer as it stands."""


def is_bic(value: str) -> bool:
    """Whether ``value`` has the shape of a BIC (ISO 9362), e.g. "ICBKCNBJ"."""
    return bool(_BIC.match(value))


def clean_text(value: object, what: str, max_len: int = MAX_NAME) -> str:
    """A stripped single-line text field, or InvalidTransfer saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidTransfer(f"{what} is missing")
    text = value.strip()
    if _BAD_CHARS.search(text):
        raise InvalidTransfer(f"{what} contains control characters")
    if text.startswith(_FORMULA_START):
        raise InvalidTransfer(f"{what} must not start with {text[0]!r}")
    if len(text) > max_len:
        raise InvalidTransfer(f"{what} is longer than {max_len} characters")
    return text


@dataclass(frozen=True, slots=True)
class Debtor:
    """The merchant's own account the payouts are paid from."""

    name: str
    account: str
    agent: str  # the debtor bank: a BIC, or another bank identifier
    currency: str = "CNY"

    def __post_init__(self) -> None:
        try:
            clean_text(self.name, "BANK_DEBTOR_NAME")
            clean_text(self.agent, "BANK_DEBTOR_AGENT", 35)
        except InvalidTransfer as exc:
            raise ValueError(str(exc)) from None
        if not re.match(r"^[A-Za-z0-9]{1,34}$", self.account):
            raise ValueError("BANK_DEBTOR_ACCOUNT must be 1..34 letters or digits")
        if not _CURRENCY.match(self.currency):
            raise ValueError("BANK_CURRENCY must be a 3-letter ISO 4217 code, e.g. CNY")


@dataclass(frozen=True, slots=True)
class Creditor:
    """The buyer's bank card the refund goes to (from ``PaymentRef.extra``)."""

    name: str
    account_no: str
    bank_name: str
    bank_code: str = ""  # e.g. a CNAPS bank code; optional

    @classmethod
    def from_extra(cls, extra: Mapping[str, str]) -> Creditor:
        """Read and check "account_name", "account_no", "bank_name" (and "bank_code")."""
        missing = [k for k in ("account_name", "account_no", "bank_name") if not extra.get(k)]
        if missing:
            raise InvalidTransfer("missing creditor data: " + ", ".join(missing))
        name = clean_text(extra["account_name"], "account_name")
        bank_name = clean_text(extra["bank_name"], "bank_name")
        account = str(extra["account_no"]).replace(" ", "")
        if not _ACCOUNT.match(account):
            raise InvalidTransfer("account_no must be 8..34 digits")
        bank_code = str(extra.get("bank_code") or "").strip()
        if bank_code and not _BANK_CODE.match(bank_code):
            raise InvalidTransfer("bank_code must be up to 35 letters or digits")
        return cls(name=name, account_no=account, bank_name=bank_name, bank_code=bank_code)

    def masked_account(self) -> str:
        """The account number with all but the first 4 and last 4 digits hidden."""
        return self.account_no[:4] + "*" * (len(self.account_no) - 8) + self.account_no[-4:]


@dataclass(frozen=True, slots=True)
class Transfer:
    """One credit transfer of a batch: a checked refund request."""

    end_to_end_id: str
    amount_fen: int
    currency: str
    creditor: Creditor
    remittance: str


def remittance_for(request: RefundRequest) -> str:
    """The remittance text the buyer sees on their statement (Max140Text)."""
    text = f"退款 Refund {request.payment.merchant_trade_no} {request.reason}"
    text = " ".join(_BAD_CHARS.sub(" ", text).split())
    return text[:MAX_NAME].strip()


def transfer_for(request: RefundRequest, currency: str) -> Transfer:
    """Check ``request`` and turn it into a Transfer; InvalidTransfer says why not."""
    key = request.idempotency_key
    if not _END_TO_END_ID.match(key):
        raise InvalidTransfer(
            f"idempotency key {key!r} cannot be an ISO 20022 end-to-end id "
            f"(at most {MAX_END_TO_END_ID} letters, digits or /-?:().,'+)"
        )
    if isinstance(request.amount_fen, bool) or request.amount_fen <= 0:
        raise InvalidTransfer("amount must be positive")
    if request.currency != currency or request.payment.currency != currency:
        raise InvalidTransfer(
            f"currency {request.currency}/{request.payment.currency} does not match "
            f"the bank account currency {currency}"
        )
    creditor = Creditor.from_extra(request.payment.extra)
    return Transfer(
        end_to_end_id=key,
        amount_fen=request.amount_fen,
        currency=currency,
        creditor=creditor,
        remittance=remittance_for(request),
    )
