"""Resolve one reconciliation difference with a person's note: who, when and why, kept on the
difference and in the audit trail."""

from __future__ import annotations

from portal.domain.reconciliation import MAX_NOTE_CHARS, DifferenceState, ResolvedHow
from portal.domain.text import bad_character
from portal.extensions import db
from portal.models import ReconDifference
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import Conflict, DomainError, NotFound
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_difference
from portal.services.unit_of_work import commit


def resolve(difference_id: int, actor: Actor, note: str) -> None:
    """Mark the difference resolved, with ``note`` saying why (required).

    Refused, with nothing written: an empty or overlong note, one with control characters,
    a difference that does not exist, or one already resolved.
    """
    note = (note or "").strip()
    if not note:
        raise DomainError(N_("Say how the difference was resolved."), rule="note_required")
    if len(note) > MAX_NOTE_CHARS:
        raise DomainError(
            N_("The note is at most %(n)s characters."), rule="note_long", n=str(MAX_NOTE_CHARS)
        )
    bad = bad_character(note, multiline=True)
    if bad is not None:
        raise DomainError(
            N_("The note holds a character that cannot be kept (%(char)s)."),
            rule="note_char",
            char=bad[1],
        )

    def work() -> None:
        row = db.session.get(ReconDifference, difference_id)
        if row is None:
            raise NotFound(N_("There is no such difference."), rule="difference")
        if row.state != DifferenceState.OPEN or not move_difference(
            row.id,
            DifferenceState.RESOLVED,
            actor,
            payout_id=row.payout_id,
            reason=note,
            data={"how": str(ResolvedHow.BY_PERSON)},
            resolved_at=context.now(),
            resolved_by_id=actor.user_id,
            resolved_by=actor.label,
            resolved_how=ResolvedHow.BY_PERSON,
            resolution_note=note,
        ):
            raise Conflict(N_("This difference was already resolved."), rule="resolved")

    commit(work)
