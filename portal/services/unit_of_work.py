"""Run a use case's work as one transaction: commit it all, or roll it all back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from portal.extensions import db
from portal.services.uploads import evidence

T = TypeVar("T")


def commit(work: Callable[[], T], files: list[evidence.StoredFile] | None = None) -> T:
    """Call ``work`` and commit; on any error roll back and remove ``files`` stored for it."""
    try:
        result = work()
        db.session.commit()
        return result
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
