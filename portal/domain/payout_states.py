"""The payout state machine: a refund of money along one channel, with its key for life.

Every state change of a payout goes through ``portal.services.refunds.transitions.move_payout``,
which consults :func:`check` here and writes an event in the same transaction.
"""

from __future__ import annotations

import enum

from portal.domain import state_table


class PayoutState(enum.StrEnum):
    """States of a payout."""

    CREATED = "created"  # key stored, not sent yet (or an operator's retry, same key)
    PENDING = "pending"  # the channel accepted it; not final (bank: waits for the statement)
    UNKNOWN = "unknown"  # timeout or system error: resolved by a query with the same key
    SUCCEEDED = "succeeded"  # the money has moved
    FAILED = "failed"  # the channel refused; nothing moved; an operator decides
    RETURNED = "returned"  # booked, then the bank sent the transfer back
    #: the channel took the refund but the buyer's account cannot receive it (WeChat Pay
    #: ABNORMAL: card closed, account frozen). Not final: the channel holds the money until
    #: an operator redirects it through the channel (then pending) or pays another way
    #: (then failed); a success can still arrive.
    ABNORMAL = "abnormal"


P = PayoutState
#: the states a channel's answer can put a payout in
_ANSWERS = frozenset({P.PENDING, P.UNKNOWN, P.SUCCEEDED, P.FAILED, P.ABNORMAL})

#: from -> the states a payout may go to. The one transitions table.
TRANSITIONS: dict[PayoutState, frozenset[PayoutState]] = {
    P.CREATED: _ANSWERS,
    P.PENDING: _ANSWERS,  # pending -> pending: asked again, still not final
    P.UNKNOWN: _ANSWERS,
    P.SUCCEEDED: frozenset({P.RETURNED}),  # only from a bank statement
    P.FAILED: frozenset({P.CREATED}),  # an operator's retry, same key
    P.RETURNED: frozenset({P.CREATED}),  # an operator's retry, same key
    # redirected by an operator (pending), settled or closed by the channel, or set aside
    # by an operator who paid another way (failed); never back to unknown: a query that
    # times out leaves it as it is
    P.ABNORMAL: frozenset({P.PENDING, P.SUCCEEDED, P.FAILED}),
}

#: not final: the settlement job still has work (execute, or query)
IN_FLIGHT = frozenset({P.CREATED, P.PENDING, P.UNKNOWN})
#: sent, but the answer is not final: resolved by a query with the same key, never a new send
UNRESOLVED = frozenset({P.PENDING, P.UNKNOWN})
#: nothing more for the settlement job to do
FINAL = frozenset({P.SUCCEEDED, P.FAILED, P.RETURNED})
#: an operator may retry these with the same key, or record a refund by another route
NEEDS_OPERATOR = frozenset({P.FAILED, P.RETURNED})
#: the channel holds the money for an operator to redirect (through the channel) or set
#: aside (paid another way): the settlement job waits; an operator or a notification moves it
HELD = frozenset({P.ABNORMAL})
#: an operator may record a refund paid by another route for these
MAY_PAY_ANOTHER_WAY = NEEDS_OPERATOR | HELD
#: money refunded, on its way or held by the channel: counts against what is still refundable
COMMITTED = IN_FLIGHT | HELD | {P.SUCCEEDED}
#: the buyer has not got this money (a ticket may be opened once it is late)
NOT_ARRIVED = frozenset(PayoutState) - {P.SUCCEEDED}
#: the money moved through the channel (out, or back): the ledger records it
MONEY_MOVED = frozenset({P.SUCCEEDED, P.RETURNED})


def allowed(frm: PayoutState, to: PayoutState) -> bool:
    """Whether a payout may move from ``frm`` to ``to``."""
    return state_table.allowed(TRANSITIONS, frm, to)


def check(frm: PayoutState, to: PayoutState) -> None:
    """Raise IllegalMove unless a payout may move from ``frm`` to ``to``."""
    state_table.check(TRANSITIONS, frm, to, "payout")
