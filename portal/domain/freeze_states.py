"""The frozen-funds state machine: merchant money held for a disputed case until the decision.

Every state change of a freeze goes through ``portal.services.refunds.transitions.move_freeze``,
which consults :func:`check` here and writes an event in the same transaction.
"""

from __future__ import annotations

import enum

from portal.domain import state_table


class FreezeState(enum.StrEnum):
    """States of a freeze."""

    FROZEN = "frozen"  # held out of the merchant's available balance
    RELEASED = "released"  # given back to the merchant (terminal)
    APPLIED = "applied"  # used to pay the buyer's refund; any rest went back (terminal)


#: from -> the states a freeze may go to. The one transitions table.
TRANSITIONS: dict[FreezeState, frozenset[FreezeState]] = {
    FreezeState.FROZEN: frozenset({FreezeState.RELEASED, FreezeState.APPLIED}),
    FreezeState.RELEASED: frozenset(),
    FreezeState.APPLIED: frozenset(),
}

#: the state a freeze is created in
INITIAL = FreezeState.FROZEN


def check(frm: FreezeState, to: FreezeState) -> None:
    """Raise IllegalMove unless a freeze may move from ``frm`` to ``to``."""
    state_table.check(TRANSITIONS, frm, to, "freeze")
