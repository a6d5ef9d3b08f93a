"""The sweep's set-based path: each rule's due rows found in pages of ids (keyset, so no row
is read twice), each page fired through the same rule definitions the per-case jobs use.

A page costs a bounded number of statements whatever its size, in one transaction: the
page's ids, the claim, one INSERT ... SELECT of events and one per kind of notice (and, where
shops have webhook endpoints, the outbox's few).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select

from portal.extensions import db
from portal.services.deadlines.deadline_rules import MARKER_RULES, RULES, apply

BATCH = 1000


def due_batches(rule: str, now: datetime, batch: int = BATCH) -> Iterator[list[int]]:
    """The ids due under ``rule`` at ``now``, in pages of ``batch`` in id order (one query each)."""
    definition = RULES[rule]
    id_column = definition.table.id
    last = 0
    while True:
        ids = list(
            db.session.scalars(
                select(id_column)
                .where(definition.due(now), id_column > last)
                .order_by(id_column)
                .limit(batch)
            )
        )
        if not ids:
            return
        yield ids
        last = ids[-1]


def run(now: datetime, batch: int = BATCH) -> dict[str, int]:
    """Fire every marker rule for all its rows due at ``now``, a page per transaction;
    returns how many rows each rule acted on."""
    counts = {}
    for name in MARKER_RULES:
        acted = 0
        for ids in due_batches(name, now, batch):
            try:
                acted += len(apply(RULES[name], ids, now))
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
        counts[name] = acted
    return counts
