"""What the payout, freeze, offer and ticket state machines share: a table of allowed moves
(from a state to the states it may go to), checked one way.

The refund case's machine (``portal.domain.states``) also says which role may take each edge;
these four are moved by the system or by a party the service has already checked.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import TypeVar

S = TypeVar("S", bound=enum.StrEnum)


class IllegalMove(Exception):
    """A move that is not in its state machine's table."""

    def __init__(self, noun: str, frm: enum.StrEnum, to: enum.StrEnum) -> None:
        super().__init__(f"a {noun} cannot go from {frm} to {to}")
        self.noun, self.frm, self.to = noun, frm, to


def allowed(table: Mapping[S, frozenset[S]], frm: S, to: S) -> bool:
    """Whether ``table`` lets a row move from ``frm`` to ``to``."""
    return to in table.get(frm, frozenset())


def check(table: Mapping[S, frozenset[S]], frm: S, to: S, noun: str) -> None:
    """Raise IllegalMove unless ``table`` lets a ``noun`` move from ``frm`` to ``to``."""
    if not allowed(table, frm, to):
        raise IllegalMove(noun, frm, to)
