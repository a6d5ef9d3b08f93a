"""What operators see of the shops' order sources: how far each has been read, and the rows
not taken in. Kept apart from ``order_sync`` (which reads orders through the API's pydantic
schema) so that the web page showing them does not load it."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import OrderSourceCursor, OrderSourceProblem


def readings() -> list[OrderSourceCursor]:
    """How far each order source has been read, by source id."""
    return list(db.session.scalars(select(OrderSourceCursor).order_by(OrderSourceCursor.source_id)))


def all_problems(limit: int = 500) -> list[OrderSourceProblem]:
    """Rows of every source not taken in, by source and row (at most ``limit``)."""
    return list(
        db.session.scalars(
            select(OrderSourceProblem)
            .order_by(OrderSourceProblem.source_id, OrderSourceProblem.row_id)
            .limit(limit)
        )
    )
