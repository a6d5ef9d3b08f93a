"""Case numbers: random, readable, and never the reason an application is refused."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

from portal.domain.policy import Kind, Reason
from portal.services.refunds import cases
from portal.services.refunds.cancellations import cancel_order
from tests import factories as f


def _draws(monkeypatch: pytest.MonkeyPatch, *numbers: str) -> list[str]:
    """Make the random part of the next case numbers come out as ``numbers``, in order."""
    left = list(numbers)
    # only the case numbers' randomness: payout keys and the rest still draw their own
    monkeypatch.setattr(cases, "secrets", SimpleNamespace(token_hex=lambda n: left.pop(0).lower()))
    return left


def _apply(order):
    return cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code does not work")
    )


def test_a_case_number_is_the_date_and_six_hex_digits(app, clock):
    case = _apply(f.order(clock(), amount_fen=100))
    assert re.fullmatch(r"RF" + clock().strftime("%y%m%d") + r"[0-9A-F]{6}", case.case_no)


def test_a_number_already_taken_is_drawn_again(app, clock, monkeypatch):
    left = _draws(monkeypatch, "ABC123", "ABC123", "ABC123", "D4E5F6")
    first = _apply(f.order(clock(), amount_fen=100))
    # the next two draws meet the first case's number: the application goes through anyway
    second = _apply(f.order(clock(), amount_fen=100))
    assert first.case_no.endswith("ABC123") and second.case_no.endswith("D4E5F6")
    assert left == []


def test_a_cancelled_orders_case_also_draws_again(app, clock, monkeypatch):
    _draws(monkeypatch, "0000AA", "0000AA", "0000BB")
    _apply(f.order(clock(), amount_fen=100))
    order = f.order(clock(), amount_fen=100)
    case = cancel_order(order, "out of stock")
    assert case is not None and case.case_no.endswith("0000BB")


def test_giving_up_after_every_try_is_taken_writes_nothing(app, clock, monkeypatch):
    _draws(monkeypatch, *["77AA77"] * (1 + cases.CASE_NO_TRIES))
    _apply(f.order(clock(), amount_fen=100))
    order = f.order(clock(), amount_fen=100)
    with pytest.raises(RuntimeError, match="no free case number"):
        _apply(order)
    from portal.services.integration import orders

    assert orders.open_case(order) is None
