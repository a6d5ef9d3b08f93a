"""The refund case state machine: one transitions table, who may take each edge.

Every state change of a case goes through ``portal.services.refunds.transitions.transition``,
which consults :func:`check` here and writes an event in the same transaction.
"""

from __future__ import annotations

import enum


class State(enum.StrEnum):
    """States of a refund case."""

    SUBMITTED = "submitted"  # application received, waiting for review
    NEEDS_INFO = "needs_info"  # reviewer or merchant asked the buyer for more material
    UNDER_REVIEW = "under_review"  # a reviewer is working on it
    NEGOTIATING = "negotiating"  # three-way negotiation buyer / merchant / platform
    APPROVED = "approved"  # decided for the buyer; waits for the return, if any
    REJECTED = "rejected"  # decided against the buyer; may be appealed once
    APPEALED = "appealed"  # the buyer appealed a rejection
    REFUNDING = "refunding"  # a payout is in flight
    REFUNDED = "refunded"  # the money arrived (terminal)
    PAYOUT_FAILED = "payout_failed"  # the gateway refused; operator must act
    WITHDRAWN = "withdrawn"  # the buyer withdrew (terminal)
    CLOSED = "closed"  # closed without refund (terminal)


class Role(enum.StrEnum):
    """Who acts on a case."""

    BUYER = "buyer"
    MERCHANT = "merchant"
    REVIEWER = "reviewer"
    SYSTEM = "system"


S, R = State, Role
_STAFF = frozenset({R.REVIEWER})
_DECIDERS = frozenset({R.REVIEWER, R.SYSTEM})

#: (from, to) -> roles allowed to take that edge. The one transitions table.
TRANSITIONS: dict[tuple[State, State], frozenset[Role]] = {
    (S.SUBMITTED, S.UNDER_REVIEW): _DECIDERS,
    (S.SUBMITTED, S.NEEDS_INFO): frozenset({R.REVIEWER, R.MERCHANT}),
    (S.SUBMITTED, S.APPROVED): frozenset({R.REVIEWER, R.MERCHANT, R.SYSTEM}),
    (S.SUBMITTED, S.REJECTED): _STAFF,
    (S.SUBMITTED, S.NEGOTIATING): frozenset({R.REVIEWER, R.MERCHANT}),
    (S.SUBMITTED, S.WITHDRAWN): frozenset({R.BUYER}),
    (S.UNDER_REVIEW, S.NEEDS_INFO): frozenset({R.REVIEWER, R.MERCHANT}),
    (S.UNDER_REVIEW, S.APPROVED): frozenset({R.REVIEWER, R.MERCHANT, R.SYSTEM}),
    (S.UNDER_REVIEW, S.REJECTED): _STAFF,
    (S.UNDER_REVIEW, S.NEGOTIATING): frozenset({R.REVIEWER, R.MERCHANT}),
    (S.UNDER_REVIEW, S.WITHDRAWN): frozenset({R.BUYER}),
    (S.NEEDS_INFO, S.UNDER_REVIEW): frozenset({R.BUYER}),
    (S.NEEDS_INFO, S.CLOSED): frozenset({R.SYSTEM, R.REVIEWER}),
    (S.NEEDS_INFO, S.WITHDRAWN): frozenset({R.BUYER}),
    (S.NEGOTIATING, S.APPROVED): _DECIDERS | {R.BUYER, R.MERCHANT},  # accepted offer
    (S.NEGOTIATING, S.REJECTED): _STAFF,
    (S.NEGOTIATING, S.WITHDRAWN): frozenset({R.BUYER}),
    (S.REJECTED, S.APPEALED): frozenset({R.BUYER}),
    (S.REJECTED, S.CLOSED): frozenset({R.SYSTEM, R.BUYER}),
    (S.APPEALED, S.APPROVED): _STAFF,
    (S.APPEALED, S.REJECTED): _STAFF,
    (S.APPEALED, S.NEGOTIATING): _STAFF,
    (S.APPROVED, S.REFUNDING): frozenset({R.SYSTEM, R.REVIEWER, R.MERCHANT}),
    (S.REFUNDING, S.REFUNDED): frozenset({R.SYSTEM, R.REVIEWER}),
    (S.REFUNDING, S.PAYOUT_FAILED): frozenset({R.SYSTEM}),
    (S.PAYOUT_FAILED, S.REFUNDING): frozenset({R.REVIEWER, R.SYSTEM}),
    (S.PAYOUT_FAILED, S.REFUNDED): frozenset({R.REVIEWER}),  # paid by another route, recorded
    (S.REFUNDED, S.PAYOUT_FAILED): frozenset({R.SYSTEM}),  # a bank transfer came back
}

#: states in which the case still occupies its order (one open case per order)
OPEN_STATES = frozenset(
    {
        S.SUBMITTED,
        S.NEEDS_INFO,
        S.UNDER_REVIEW,
        S.NEGOTIATING,
        S.APPROVED,
        S.APPEALED,
        S.REFUNDING,
        S.PAYOUT_FAILED,
    }
)
#: final states; a refunded case reopens only when a bank returns the transfer
TERMINAL_STATES = frozenset({S.REFUNDED, S.WITHDRAWN, S.CLOSED})
#: states a reviewer's queue shows (waiting on the platform)
REVIEW_QUEUE_STATES = frozenset({S.SUBMITTED, S.UNDER_REVIEW, S.APPEALED, S.NEGOTIATING})
#: undecided: the parties may still write in the case's thread and the buyer may add files
CONVERSATION_STATES = frozenset(
    {S.SUBMITTED, S.NEEDS_INFO, S.UNDER_REVIEW, S.NEGOTIATING, S.APPEALED}
)
#: a decision was taken and stands: its note is shown to the buyer
DECIDED_STATES = frozenset({S.REJECTED, S.APPROVED, S.REFUNDING, S.REFUNDED})


class TransitionError(Exception):
    """An edge that is not in the table, or a role that may not take it."""

    def __init__(self, frm: State, to: State, role: Role, message: str) -> None:
        super().__init__(message)
        self.frm, self.to, self.role = frm, to, role


def check(frm: State, to: State, role: Role) -> None:
    """Raise TransitionError unless ``role`` may move a case from ``frm`` to ``to``."""
    allowed = TRANSITIONS.get((frm, to))
    if allowed is None:
        raise TransitionError(frm, to, role, f"a case cannot go from {frm} to {to}")
    if role not in allowed:
        raise TransitionError(frm, to, role, f"a {role} cannot move a case from {frm} to {to}")


def targets(frm: State, role: Role) -> list[State]:
    """The states ``role`` may move a case to from ``frm`` (for showing actions)."""
    return [to for (f, to), roles in TRANSITIONS.items() if f == frm and role in roles]


def is_open(state: State) -> bool:
    """Whether a case in ``state`` still blocks a new application on its order."""
    return state in OPEN_STATES
