"""Run callbacks only after the current transaction commits (e.g. enqueue a job).

A job enqueued before commit could run against rows that do not exist yet, or
that a rollback removes; so use cases register the enqueue here instead.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "portal.after_commit"


def call_after_commit(session: Session, fn: Callable[[], object]) -> None:
    """Call ``fn`` once the session's current transaction has committed."""
    session.info.setdefault(_KEY, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run(session: Session) -> None:
    callbacks = session.info.pop(_KEY, [])
    for fn in callbacks:
        fn()


@event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_KEY, None)
