"""Run a use case's work as one transaction: commit it all, or roll it all back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.services.errors import ConcurrentChange
from portal.services.policy_text import N_
from portal.services.uploads import evidence

T = TypeVar("T")
LOST_RACE = N_(
    "Someone else changed this at the same moment, so nothing was saved. "
    "Reload the page to see the new state and try again."
)


def commit(work: Callable[[], T], files: list[evidence.StoredFile] | None = None) -> T:
    """Call ``work`` and commit; on any error roll back and remove ``files`` stored for it.

    A unique index that refuses the work means a concurrent request won the race (say, an
    appeal reopening a case while a new application opened another): ``ConcurrentChange``.
    """
    try:
        result = work()
        db.session.commit()
        return result
    except IntegrityError:
        db.session.rollback()
        if files:
            evidence.discard(files)
        raise ConcurrentChange(LOST_RACE, rule="concurrent") from None
    except Exception:
        db.session.rollback()
        if files:
            evidence.discard(files)
        raise


def rollback() -> None:
    """Drop what the session holds uncommitted (after a refused use case, before showing it)."""
    db.session.rollback()


def release() -> None:
    """End the session now and give its connection back (before a handler's last steps)."""
    db.session.remove()
