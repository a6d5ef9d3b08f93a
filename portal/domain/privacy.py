"""Personal data by the minimum, as pure rules: when a case's record has ended, when its
personal data falls due for erasure, what holds it back, the states of a buyer's erasure
request, and which fields of an event are a buyer's own words.

What is erased (the order's contact and query-password hash, the buyer's words, the network
address an application came from, the payer's account id, evidence files) and what stays (order
and case numbers, amounts, states, times, gateway references, the evidence's SHA-256, the
audit chain) is listed in docs/privacy.md.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.domain import audit_chain
from portal.domain.states import Role, State

#: the event kind of the receipt written when personal data is erased (which fields of which
#: events were blanked, and what remains)
ERASED = audit_chain.ERASED
#: a supervisor's legal hold set on a case, and lifted (each with a reason)
HOLD_SET = "legal_hold_set"
HOLD_LIFTED = "legal_hold_lifted"
#: the buyer downloaded everything the portal holds about their order
EXPORTED = "personal_data_exported"
#: the buyer asked for erasure, and staff answered (done or refused, with a reason)
REQUESTED = "erasure_requested"
REQUEST_ANSWERED = "erasure_request_answered"
#: events only the platform's staff see on a case's timeline
STAFF_ONLY_KINDS = frozenset({HOLD_SET, HOLD_LIFTED, EXPORTED})

#: a case in one of these states has ended (a rejection too: an appeal reopens it, and an open
#: appeal is a hold)
ENDED_STATES = frozenset({State.REFUNDED, State.WITHDRAWN, State.CLOSED, State.REJECTED})
#: the event fields a buyer's own words are kept in (blanked on erasure)
BUYER_TEXT_FIELDS = ("reason",)
#: what an erased text field holds afterwards
BLANK = ""
#: a payment's extra fields that name the payer at the gateway (Alipay's buyer_id and
#: buyer_open_id, WeChat Pay's openid): the same keys the order intake reads the payer id from
#: (portal.services.integration.ingest.PAYER_KEYS, which a test holds equal)
PAYER_KEYS = ("buyer_id", "buyer_open_id", "openid")


class Hold(enum.StrEnum):
    """Why an order's personal data may not be erased yet."""

    OPEN_CASE = "hold_open_case"  # a case on the order is not over (an appeal included)
    FROZEN = "hold_frozen"  # funds frozen for a dispute
    SUPERVISOR = "hold_supervisor"  # a supervisor's legal hold
    NOT_DUE = "hold_not_due"  # the retention period has not passed yet


class RequestState(enum.StrEnum):
    """A buyer's erasure request."""

    OPEN = "open"
    DONE = "done"
    REFUSED = "refused"


INITIAL = RequestState.OPEN
#: (from, to): the request's one transitions table; staff answer an open request once
REQUEST_TRANSITIONS = frozenset(
    {(RequestState.OPEN, RequestState.DONE), (RequestState.OPEN, RequestState.REFUSED)}
)


def may_answer(frm: str, to: RequestState) -> bool:
    """Whether a request in ``frm`` may move to ``to``."""
    return (frm, to) in REQUEST_TRANSITIONS


def has_ended(state: str) -> bool:
    """Whether a case in ``state`` is over."""
    return state in ENDED_STATES


def due_at(ended_at: datetime, retention_days: int) -> datetime:
    """When the personal data of a record that ended at ``ended_at`` falls due."""
    if retention_days < 0:
        raise ValueError("RETENTION_DAYS must be 0 or more")
    return ended_at + timedelta(days=retention_days)


def holds(
    case_states: Iterable[str],
    *,
    frozen: bool,
    supervisor_hold: bool,
    last_end: datetime | None,
    now: datetime,
    retention_days: int | None,
) -> list[Hold]:
    """Everything that keeps an order's personal data from being erased now (none: it may
    be). ``retention_days`` None: a buyer's request, which does not wait for the period."""
    found: list[Hold] = []
    if any(not has_ended(s) for s in case_states):
        found.append(Hold.OPEN_CASE)
    if frozen:
        found.append(Hold.FROZEN)
    if supervisor_hold:
        found.append(Hold.SUPERVISOR)
    if retention_days is not None and (last_end is None or due_at(last_end, retention_days) > now):
        found.append(Hold.NOT_DUE)
    return found


def is_buyer_text(actor_role: str, reason: str) -> bool:
    """Whether an event's ``reason`` holds a buyer's own words (to blank on erasure)."""
    return actor_role == Role.BUYER and reason != BLANK


@dataclass(frozen=True)
class RequestStatus:
    """A buyer's erasure request as the case's own timeline tells it (no query of its own)."""

    waiting: bool
    refused: bool
    asked_at: datetime | None
    due_at: datetime | None
    refusal: str


def request_status(events: Iterable[Any]) -> RequestStatus | None:
    """The newest erasure request among a case's events (``kind``, ``to_state``, ``reason``,
    ``data``, ``created_at``), or None when the buyer never asked from this case."""
    asked: Any = None
    answer: Any = None
    for event in events:
        if event.kind == REQUESTED:
            asked, answer = event, None
        elif event.kind == REQUEST_ANSWERED and asked is not None:
            answer = event
    if asked is None:
        return None
    due = (asked.data or {}).get("due_at")
    refused = answer is not None and answer.to_state == RequestState.REFUSED
    return RequestStatus(
        waiting=answer is None,
        refused=refused,
        asked_at=asked.created_at,
        due_at=datetime.fromisoformat(due) if isinstance(due, str) else None,
        refusal=answer.reason if refused else "",
    )
