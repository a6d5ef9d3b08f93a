"""Fen (integers) to Alipay's yuan strings and back, exactly (never through floats)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def fen_to_yuan(fen: int) -> str:
    """1234 -> "12.34"."""
    if not isinstance(fen, int) or isinstance(fen, bool) or fen < 0:
        raise ValueError(f"fen must be a non-negative int, not {fen!r}")
    return f"{fen // 100}.{fen % 100:02d}"


def yuan_to_fen(text: str) -> int:
    """ "12.34" -> 1234; ValueError for sub-fen, negative or malformed amounts."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise ValueError(f"not an amount: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"not an amount: {text!r}")
    fen = value * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"sub-fen amount: {text!r}")
    return int(fen)
