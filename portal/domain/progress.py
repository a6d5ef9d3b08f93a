"""Where a refund case stands, as the buyer's progress stepper shows it.

Four steps (applied, review, refund, arrived); the review step is named for what is happening
in it (negotiation, appeal) and a case that ended without a refund stops at the step where it
ended (rejected, withdrawn, closed). Labels are message ids, translated when shown.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from portal.domain.policy import N_
from portal.domain.states import State


class StepStatus(enum.StrEnum):
    """How far one step of the stepper has got."""

    DONE = "done"
    CURRENT = "current"
    TODO = "todo"
    STOPPED = "stopped"  # the case ended here, without a refund


@dataclass(frozen=True)
class Step:
    """One step: its message id and its status."""

    label: str
    status: StepStatus


APPLIED = N_("Applied")
REVIEW = N_("Review")
NEGOTIATION = N_("Negotiation")
APPEAL = N_("Appeal review")
REJECTED = N_("Rejected")
WITHDRAWN = N_("Withdrawn")
CLOSED = N_("Closed")
REFUNDING = N_("Refunding")
ARRIVED = N_("Arrived")

_REVIEW_LABEL = {
    State.NEGOTIATING: NEGOTIATION,
    State.APPEALED: APPEAL,
    State.REJECTED: REJECTED,
    State.WITHDRAWN: WITHDRAWN,
    State.CLOSED: CLOSED,
}
_IN_REVIEW = frozenset(
    {State.SUBMITTED, State.NEEDS_INFO, State.UNDER_REVIEW, State.NEGOTIATING, State.APPEALED}
)
_ENDED = frozenset({State.REJECTED, State.WITHDRAWN, State.CLOSED})
_PAYING = frozenset({State.APPROVED, State.REFUNDING, State.PAYOUT_FAILED})


def steps(state: State) -> tuple[Step, ...]:
    """The stepper for a case in ``state``."""
    d, c, t, s = StepStatus.DONE, StepStatus.CURRENT, StepStatus.TODO, StepStatus.STOPPED
    review = _REVIEW_LABEL.get(state, REVIEW)
    if state in _IN_REVIEW:
        statuses = (d, c, t, t)
    elif state in _ENDED:
        statuses = (d, s, t, t)
    elif state in _PAYING:
        statuses = (d, d, c, t)
    else:  # refunded
        statuses = (d, d, d, d)
    labels = (APPLIED, review, REFUNDING, ARRIVED)
    return tuple(Step(label, status) for label, status in zip(labels, statuses, strict=True))
