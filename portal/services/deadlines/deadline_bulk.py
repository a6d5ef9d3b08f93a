"""The sweep's set-based path: the rows due under a group of rules found in pages of ids
(keyset, so no row is read twice), each page fired through the same rule definitions the
per-case jobs use.

A page costs a bounded number of statements whatever its size, in one transaction: one claim
for the rules of its table (the reminder and the escalation together) that finds the page's
rows itself on PostgreSQL (elsewhere the page's ids are read first, then claimed),
one INSERT ... SELECT for every rule's notices (``notices.together``), then the page's events
of every rule linked into their chains at once (the rows they are about read in one
statement, the heads read, the events written, the heads stored:
``transitions.events_together``; and, where shops have webhook endpoints, the outbox's few).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_, select

from portal.extensions import db
from portal.services.deadlines.deadline_rules import (
    MARKER_GROUPS,
    RULES,
    Rule,
    apply_page,
    apply_together,
    claims_pages,
)

BATCH = 1000
T = TypeVar("T")


def due_batches(
    rule: str | tuple[str, ...], now: datetime, batch: int = BATCH
) -> Iterator[list[int]]:
    """The ids due at ``now`` under ``rule`` (or under any of several rules on one table), in
    pages of ``batch`` in id order (one query each)."""
    definitions = [RULES[name] for name in ((rule,) if isinstance(rule, str) else rule)]
    [table] = {definition.table for definition in definitions}
    id_column = table.id
    due = or_(*(definition.due(now) for definition in definitions))
    last = 0
    while True:
        ids = list(
            db.session.scalars(
                select(id_column).where(due, id_column > last).order_by(id_column).limit(batch)
            )
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def run(now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Fire every marker rule for all its rows due at ``now``, a page per transaction (the
    rules of one table together); returns how many rows each rule acted on. On PostgreSQL a
    page is found and claimed by one statement (``apply_page``)."""
    counts: dict[str, int] = {}
    for group in MARKER_GROUPS:
        rules = [RULES[name] for name in group]
        counts |= dict.fromkeys(group, 0)
        for acted in _pages(rules, group, now, batch):
            for name, rows in acted.items():
                counts[name] += len(rows)
    return counts


def _pages(
    rules: list[Rule], group: tuple[str, ...], now: datetime, batch: int
) -> Iterator[dict[str, list[int]]]:
    """Each page's rows acted on by each rule, the page committed before it is given."""
    if not claims_pages():
        for ids in due_batches(group, now, batch):
            yield _committed(apply_together, rules, ids, now)
        return
    last: int | None = 0
    while last is not None:
        acted, last = _committed(apply_page, rules, now, last, batch)
        if last is not None:
            yield acted


def _committed(work: Callable[..., T], *args: Any) -> T:
    """``work(*args)``, committed; rolled back if it raises."""
    try:
        done = work(*args)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return done
