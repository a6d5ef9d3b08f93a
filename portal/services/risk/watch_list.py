"""The watch list: contacts and payer ids an operator marked after confirmed abuse, each with
a reason and an expiry. An entry only raises a case's risk level; it never refuses anything."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from portal.domain.risk import WatchKind
from portal.extensions import db
from portal.models import WatchEntry
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import DomainError, NotFound
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

#: the longest an entry may stay on the list
MAX_DAYS = 3650
MAX_VALUE = 120
MAX_REASON = 500


def live() -> list[WatchEntry]:
    """Entries not removed and not expired, the newest first."""
    return list(
        db.session.scalars(
            select(WatchEntry)
            .where(WatchEntry.removed_at.is_(None), WatchEntry.expires_at > context.now())
            .order_by(WatchEntry.id.desc())
        )
    )


def add(kind: str, value: str, days: int, reason: str, actor: Actor) -> WatchEntry:
    """Put a contact or payer id on the list for ``days`` days; writes ``watch_added``."""
    try:
        watch_kind = WatchKind(kind)
    except ValueError:
        raise DomainError(N_("Choose a contact or a payer id."), rule="watch_kind") from None
    value, reason = (value or "").strip(), (reason or "").strip()
    if not value or len(value) > MAX_VALUE:
        raise DomainError(
            N_("Enter the contact or payer id (at most %(n)s characters)."),
            rule="watch_value",
            n=str(MAX_VALUE),
        )
    if not reason or len(reason) > MAX_REASON:
        raise DomainError(
            N_("Say why (at most %(n)s characters)."), rule="watch_reason", n=str(MAX_REASON)
        )
    if not 1 <= days <= MAX_DAYS:
        raise DomainError(
            N_("The time on the list must be between 1 and %(n)s days."),
            rule="watch_days",
            n=str(MAX_DAYS),
        )

    if watch_kind == WatchKind.CONTACT:
        value = value.lower()  # contacts are compared as the order lookup does

    def work() -> WatchEntry:
        now = context.now()
        entry = WatchEntry(
            kind=str(watch_kind),
            value=value,
            reason=reason,
            expires_at=now + timedelta(days=days),
            added_by=actor.label,
            added_by_id=actor.user_id,
            created_at=now,
            removed_by="",
        )
        db.session.add(entry)
        db.session.flush()
        record(
            "watch_added",
            actor,
            reason=reason,
            data={"entry": entry.id, "kind": entry.kind, "days": days},
        )
        return entry

    return commit(work)


def remove(entry_id: int, actor: Actor) -> None:
    """Take an entry off the list (kept, marked removed); writes ``watch_removed``."""

    def work() -> None:
        entry = db.session.get(WatchEntry, entry_id, with_for_update=True)
        if entry is None or entry.removed_at is not None:
            raise NotFound(N_("That watch-list entry is not on the list."), rule="watch_entry")
        entry.removed_at = context.now()
        entry.removed_by = actor.label
        record("watch_removed", actor, data={"entry": entry.id, "kind": entry.kind})

    commit(work)
