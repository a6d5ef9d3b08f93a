"""Money as integer fen: parsing buyer input and formatting for display.

Amounts are never floats. Yuan strings are parsed digit by digit.
"""

from __future__ import annotations

import re

_YUAN = re.compile(r"^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$")


class MoneyError(ValueError):
    """An amount that is not a valid positive yuan figure with at most 2 decimals."""


def parse_yuan(text: str) -> int:
    """Parse "12", "12.5" or "12.34" (yuan) into fen; MoneyError otherwise."""
    match = _YUAN.match(text or "")
    if not match:
        raise MoneyError(text)
    whole, frac = match.group(1), (match.group(2) or "").ljust(2, "0")
    return int(whole) * 100 + int(frac)


def format_yuan(fen: int) -> str:
    """Format fen as a yuan string with 2 decimals: 1234 -> "12.34"."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
