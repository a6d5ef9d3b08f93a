"""Who works a case: the reviewer it is assigned to, and who may take an appeal."""

from __future__ import annotations

from portal.domain.states import REVIEW_QUEUE_STATES, State

#: the audit trail's event kinds for assignment (staff read them; buyers and shops do not)
CLAIMED = "claimed"  # a reviewer took the case (by hand, or the next one by deadline)
REASSIGNED = "reassigned"  # a supervisor gave it to another reviewer (or to nobody)
RELEASED = "released"  # the reviewer gave it back to the queue
KINDS = frozenset({CLAIMED, REASSIGNED, RELEASED})

#: states in which "take the next one" hands a case out: waiting on a reviewer's decision
TAKEABLE_STATES = REVIEW_QUEUE_STATES


def may_take(state: State, rejected_by_id: int | None, user_id: int) -> bool:
    """Whether reviewer ``user_id`` may work this case: an appeal goes to a reviewer other
    than the one who rejected the case."""
    return not (
        state == State.APPEALED and rejected_by_id is not None and rejected_by_id == user_id
    )


def may_decide(assignee_id: int | None, user_id: int | None, supervisor: bool) -> bool:
    """Whether a reviewer may act on a case: anyone while nobody works it, then only the
    reviewer it is assigned to, or a supervisor."""
    return supervisor or assignee_id is None or assignee_id == user_id
