"""Integer fen <-> yuan decimal strings, exactly, for bank files.

Batch files and statements carry amounts as decimal strings ("1234.56"); the portal keeps
integer fen. Writing uses integer arithmetic only; reading uses :class:`decimal.Decimal`
and refuses anything that is not a whole number of fen.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

# ISO 20022 amounts: plain decimal digits, at most 18 in total; no sign, no exponent.
_DECIMAL = re.compile(r"^\d{1,18}(?:\.\d{1,17})?$")


class AmountError(ValueError):
    """A decimal amount that cannot be turned into a whole, positive number of fen."""


def fen_to_yuan(fen: int) -> str:
    """Format non-negative integer fen as a yuan string with 2 decimals: 123456 -> "1234.56"."""
    if not isinstance(fen, int) or isinstance(fen, bool):
        raise TypeError("fen must be an int")
    if fen < 0:
        raise AmountError(f"negative amount {fen} fen")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str) -> int:
    """Parse a positive decimal yuan amount ("0.01", "1234.56", "5") into integer fen.

    Raises AmountError for anything malformed, zero, or finer than one fen ("1.001");
    trailing zeros are fine ("1.500" is 150 fen).
    """
    cleaned = (text or "").strip()
    if not _DECIMAL.match(cleaned):
        raise AmountError(f"not a decimal amount: {text!r}")
    try:
        fen = Decimal(cleaned).scaleb(2)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise AmountError(f"not a decimal amount: {text!r}") from exc
    if fen != fen.to_integral_value():
        raise AmountError(f"amount {cleaned} has a fraction of a fen")
    if fen <= 0:
        raise AmountError(f"amount {cleaned} is not positive")
    return int(fen)
