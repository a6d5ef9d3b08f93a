"""Which deadline a case gets when it enters a state, in working days or hours.

Deadlines are data stored on the case; jobs and sweeps only remind of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from portal.domain.states import State


class Calendar(Protocol):
    """The part of the working-day calendar deadlines need."""

    def add_working_days(self, start: datetime, n: int) -> datetime: ...

    def working_days_before(self, deadline: datetime, n: int) -> datetime: ...


@dataclass(frozen=True)
class Rules:
    """Deadline windows, configurable per platform."""

    review_working_days: int = 3
    info_working_days: int = 3
    negotiation_working_days: int = 3
    merchant_return_working_days: int = 2
    merchant_answer_working_days: int = 2
    review_reminder_working_days: int = 1

    @classmethod
    def from_config(cls, get: Callable[[str], Any]) -> Rules:
        """Build from settings (a ``name -> value`` getter)."""
        return cls(
            review_working_days=int(get("REVIEW_TARGET_WORKING_DAYS")),
            info_working_days=int(get("INFO_REQUEST_WORKING_DAYS")),
            merchant_answer_working_days=int(get("MERCHANT_ANSWER_WORKING_DAYS")),
            review_reminder_working_days=int(get("REVIEW_REMINDER_WORKING_DAYS")),
        )


REVIEW = "review"
BUYER_INFO = "buyer_info"
NEGOTIATION = "negotiation"
MERCHANT_RETURN = "merchant_return"


def on_entry(
    state: State,
    *,
    now: datetime,
    calendar: Calendar,
    current: tuple[datetime | None, str],
    rules: Rules,
) -> tuple[datetime | None, str]:
    """The (deadline, kind) a case carries after entering ``state``.

    A case that moves between review states keeps its review deadline; material
    supplied after a request for information restarts the review clock.
    """
    current_at, current_kind = current
    if state in (State.SUBMITTED, State.APPEALED):
        return calendar.add_working_days(now, rules.review_working_days), REVIEW
    if state == State.UNDER_REVIEW:
        if current_kind == REVIEW and current_at is not None:
            return current_at, REVIEW
        return calendar.add_working_days(now, rules.review_working_days), REVIEW
    if state == State.NEEDS_INFO:
        return calendar.add_working_days(now, rules.info_working_days), BUYER_INFO
    if state == State.NEGOTIATING:
        return calendar.add_working_days(now, rules.negotiation_working_days), NEGOTIATION
    if state == State.APPROVED:
        return calendar.add_working_days(now, rules.merchant_return_working_days), MERCHANT_RETURN
    return None, ""


#: states in which the merchant's silence still matters
MERCHANT_ANSWER_STATES = (State.SUBMITTED, State.UNDER_REVIEW)


def reminder_for(
    deadline: tuple[datetime | None, str], calendar: Calendar, rules: Rules
) -> datetime | None:
    """When reviewers are reminded of a review deadline (1 working day before it by default)."""
    at, kind = deadline
    if kind != REVIEW or at is None or rules.review_reminder_working_days <= 0:
        return None
    return calendar.working_days_before(at, rules.review_reminder_working_days)


def merchant_window(submitted_at: datetime, calendar: Calendar, rules: Rules) -> datetime:
    """Until when the merchant may answer a new case before its silence counts as agreeing."""
    return calendar.add_working_days(submitted_at, rules.merchant_answer_working_days)
