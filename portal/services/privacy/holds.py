"""Legal holds: what keeps an order's personal data from being erased (an open case or
appeal, funds frozen for a dispute, a supervisor's hold), and a supervisor's hold set and
lifted with a reason, each recorded in the case's chain (staff see it on the case page)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from portal.domain import freeze_states, privacy
from portal.domain.privacy import Hold
from portal.extensions import db
from portal.models import Freeze, LegalHold, Order, RefundCase
from portal.services import context
from portal.services.actors import Actor
from portal.services.errors import Conflict, DomainError, Forbidden
from portal.services.policy_text import N_
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

REASON_MAX = 500


def active_hold(case_id: int) -> LegalHold | None:
    """The supervisor's hold standing on the case, if any."""
    return db.session.scalars(
        select(LegalHold).where(LegalHold.case_id == case_id, LegalHold.lifted_at.is_(None))
    ).first()


def retention_days() -> int:
    """The configured retention period (days after a case's end)."""
    days = int(context.setting("RETENTION_DAYS"))
    if days < 0:
        raise ValueError("RETENTION_DAYS must be 0 or more")
    return days


def of_order(order_id: int, now: datetime, days: int | None) -> list[Hold]:
    """Everything keeping the order's personal data from erasure at ``now`` (``days`` None:
    a buyer's request, which does not wait for the retention period)."""
    rows = db.session.execute(
        select(RefundCase.id, RefundCase.state, RefundCase.updated_at).where(
            RefundCase.order_id == order_id
        )
    ).all()
    case_ids = [r.id for r in rows]
    frozen = (
        bool(case_ids)
        and (
            db.session.scalar(
                select(func.count())
                .select_from(Freeze)
                .where(Freeze.case_id.in_(case_ids), Freeze.state == freeze_states.INITIAL)
            )
            or 0
        )
        > 0
    )
    held = (
        db.session.scalar(
            select(func.count())
            .select_from(LegalHold)
            .where(LegalHold.order_id == order_id, LegalHold.lifted_at.is_(None))
        )
        or 0
    ) > 0
    return privacy.holds(
        [r.state for r in rows],
        frozen=frozen,
        supervisor_hold=held,
        last_end=max((r.updated_at for r in rows), default=None),
        now=now,
        retention_days=days,
    )


def _reason(text: str) -> str:
    text = (text or "").strip()
    if not text:
        raise DomainError(N_("Give the reason for the hold."), rule="hold_reason")
    if len(text) > REASON_MAX:
        raise DomainError(
            N_("Keep the reason under %(n)s characters."), rule="hold_reason", n=str(REASON_MAX)
        )
    return text


def _supervisor(actor: Actor) -> None:
    if not actor.supervisor:
        raise Forbidden(N_("Only a supervisor sets or lifts a legal hold."), rule="supervisor")


def set_hold(case: RefundCase, actor: Actor, reason: str) -> LegalHold:
    """A supervisor holds the case's personal data from erasure, saying why (recorded)."""
    _supervisor(actor)
    why = _reason(reason)

    def work() -> LegalHold:
        # the order's row locked (PostgreSQL), as an erasure's claim locks it: one waits
        erased = db.session.scalar(
            select(Order.erased_at).where(Order.id == case.order_id).with_for_update()
        )
        if erased is not None:
            raise Conflict(N_("The personal data was already erased."), rule="erased")
        if active_hold(case.id) is not None:
            raise Conflict(N_("This case is already on legal hold."), rule="hold_exists")
        hold = LegalHold(
            case_id=case.id,
            order_id=case.order_id,
            reason=why,
            set_by=actor.label,
            set_by_id=actor.user_id,
            set_at=context.now(),
        )
        db.session.add(hold)
        db.session.flush()
        record(privacy.HOLD_SET, actor, case=case, reason=why, data={"hold_id": hold.id})
        return hold

    return commit(work)


def lift_hold(case: RefundCase, actor: Actor, reason: str) -> None:
    """A supervisor lifts the case's hold, saying why (recorded)."""
    _supervisor(actor)
    why = _reason(reason)

    def work() -> None:
        hold = active_hold(case.id)
        if hold is None:
            raise Conflict(N_("This case is not on legal hold."), rule="no_hold")
        hold.lifted_at = context.now()
        hold.lifted_by = actor.label
        hold.lift_reason = why
        record(privacy.HOLD_LIFTED, actor, case=case, reason=why, data={"hold_id": hold.id})

    commit(work)
