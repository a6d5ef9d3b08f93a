"""Money parsing/formatting and the transitions table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain import states
from portal.domain.money import MoneyError, format_yuan, parse_yuan
from portal.domain.states import Role, State


@pytest.mark.parametrize(
    ("text", "fen"), [("12", 1200), ("12.5", 1250), ("12.34", 1234), ("0.01", 1), (" 7 ", 700)]
)
def test_parse_yuan(text, fen):
    assert parse_yuan(text) == fen


@pytest.mark.parametrize("text", ["", "abc", "1.234", "-1", "1e3", "1,000", "NaN", "12.", ".5"])
def test_parse_yuan_refuses(text):
    with pytest.raises(MoneyError):
        parse_yuan(text)


@given(st.integers(min_value=0, max_value=10**11 - 1))
def test_format_parse_round_trip(fen):
    assert parse_yuan(format_yuan(fen)) == fen


def test_every_state_is_reachable_from_submitted():
    seen, todo = {State.SUBMITTED}, [State.SUBMITTED]
    while todo:
        frm = todo.pop()
        for f, to in states.TRANSITIONS:
            if f == frm and to not in seen:
                seen.add(to)
                todo.append(to)
    assert seen == set(State)


def test_terminal_states_have_no_way_out():
    exits = [(frm, to) for (frm, to) in states.TRANSITIONS if frm in states.TERMINAL_STATES]
    # the one exception: a bank returns a transfer that was booked, the system reopens it
    assert exits == [(State.REFUNDED, State.PAYOUT_FAILED)]
    assert states.TRANSITIONS[exits[0]] == frozenset({Role.SYSTEM})


@pytest.mark.parametrize(
    ("frm", "to", "role", "ok"),
    [
        (State.SUBMITTED, State.WITHDRAWN, Role.BUYER, True),
        (State.SUBMITTED, State.WITHDRAWN, Role.REVIEWER, False),
        (State.SUBMITTED, State.REJECTED, Role.MERCHANT, False),
        (State.REJECTED, State.APPEALED, Role.BUYER, True),
        (State.REFUNDED, State.REFUNDING, Role.SYSTEM, False),
        (State.NEEDS_INFO, State.UNDER_REVIEW, Role.BUYER, True),
        (State.REFUNDING, State.REFUNDED, Role.BUYER, False),
        (State.APPEALED, State.APPROVED, Role.REVIEWER, True),
    ],
)
def test_check(frm, to, role, ok):
    if ok:
        states.check(frm, to, role)
    else:
        with pytest.raises(states.TransitionError):
            states.check(frm, to, role)
