"""``Idempotency-Key`` on API writes: a retry gets the first answer; another body gets 409.

The record is added to the session before the work runs, so the use case's own commit
stores it together with what the request wrote (or its rollback removes both).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import IdempotencyRecord
from portal.services import context


@dataclass(frozen=True)
class Seen:
    """What an earlier request with the same key left: its answer, or a conflict."""

    conflict: str = ""  # "" | "body" (another request) | "in_progress"
    status: int = 0
    body: Any = None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What identifies one request: method, path and body."""
    return hashlib.sha256(f"{method} {path}\n".encode() + body).hexdigest()


def lookup(merchant_id: int, key: str, print_: str) -> Seen | None:
    """The earlier answer under this key, a conflict, or None if the key is new."""
    row = db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.merchant_id == merchant_id, IdempotencyRecord.key == key
        )
    )
    if row is None:
        return None
    if row.fingerprint != print_:
        return Seen(conflict="body")
    if row.status == 0:
        return Seen(conflict="in_progress")
    return Seen(status=row.status, body=row.body)


def reserve(merchant_id: int, key: str, print_: str) -> IdempotencyRecord | None:
    """Add the key to the current transaction; None if a concurrent request holds it."""
    row = IdempotencyRecord(
        merchant_id=merchant_id, key=key, fingerprint=print_, status=0, created_at=context.now()
    )
    db.session.add(row)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return None
    return row


def remember(
    merchant_id: int, key: str, print_: str, status: int, body: Any, row: IdempotencyRecord | None
) -> None:
    """Store the answer (on the reserved row if the work committed it, else on a new row)."""
    if row is not None and db.session.get(IdempotencyRecord, row.id) is not None:
        row.status, row.body = status, body
    else:
        db.session.rollback()
        db.session.add(
            IdempotencyRecord(
                merchant_id=merchant_id,
                key=key,
                fingerprint=print_,
                status=status,
                body=body,
                created_at=context.now(),
            )
        )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent request stored its answer first
