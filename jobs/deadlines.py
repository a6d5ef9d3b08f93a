"""Deadline jobs: scheduled at each case's deadlines, and a sweep that catches what they miss."""

from __future__ import annotations

from jobs.runtime import with_app
from portal.services.deadlines import deadline_rules


@with_app
def fire_for_case(case_id: int) -> list[str]:
    """Run every case rule that is due for this case now (scheduled at its deadlines)."""
    return [rule for rule in deadline_rules.CASE_RULES if deadline_rules.fire(rule, case_id)]


@with_app
def fire(rule: str, row_id: int) -> bool:
    """Run one rule for one case or payout if it is still due."""
    return deadline_rules.fire(rule, row_id)
