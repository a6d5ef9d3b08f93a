"""Exact fen <-> yuan conversion at the bank-file edge."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from refund_portal_bank.amounts import AmountError, fen_to_yuan, yuan_to_fen


@pytest.mark.parametrize(
    ("fen", "text"),
    [(1, "0.01"), (10, "0.10"), (100, "1.00"), (123456, "1234.56"), (0, "0.00")],
)
def test_fen_to_yuan(fen, text):
    assert fen_to_yuan(fen) == text


def test_fen_to_yuan_refuses_floats_and_negatives():
    with pytest.raises(TypeError):
        fen_to_yuan(1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fen_to_yuan(True)  # type: ignore[arg-type]
    with pytest.raises(AmountError):
        fen_to_yuan(-1)


@pytest.mark.parametrize(
    ("text", "fen"),
    [("0.01", 1), ("1234.56", 123456), ("5", 500), ("1.5", 150), ("1.500", 150), (" 2.00 ", 200)],
)
def test_yuan_to_fen(text, fen):
    assert yuan_to_fen(text) == fen


@pytest.mark.parametrize("text", ["0.001", "1.005", "1234.561", "0.0000001"])
def test_sub_fen_amounts_are_refused(text):
    with pytest.raises(AmountError, match="fraction of a fen"):
        yuan_to_fen(text)


@pytest.mark.parametrize(
    "text", ["", "abc", "-1.00", "+1.00", "1e3", "1,00", "NaN", "Infinity", "0", "0.00", "1."]
)
def test_malformed_or_non_positive_amounts_are_refused(text):
    with pytest.raises(AmountError):
        yuan_to_fen(text)


@given(st.integers(min_value=1, max_value=10**15))
def test_round_trip(fen):
    assert yuan_to_fen(fen_to_yuan(fen)) == fen
