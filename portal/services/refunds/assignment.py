"""Who works a case: a reviewer claims it or takes the next one by deadline, gives it back,
or a supervisor reassigns it. Each change is a compare-and-set on the case with its audit
event; whoever comes second gets a Conflict, never the same case as someone else."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select, update

from portal.domain import assignment
from portal.domain.states import State
from portal.extensions import db
from portal.models import RefundCase, User
from portal.services import context
from portal.services.actors import Actor
from portal.services.dml import rows_matched
from portal.services.errors import Conflict, DomainError, Forbidden, NotFound
from portal.services.policy_text import N_
from portal.services.refunds.transitions import CASES, record
from portal.services.unit_of_work import commit

#: candidates tried by "take the next one" where rows cannot be locked (SQLite)
_TAKE_TRIES = 10

TAKEN = N_("Another reviewer is already working on this case.")
CHANGED = N_("Someone changed who works on this case a moment ago. Reload it and try again.")
CLOSED = N_("This case is closed: nobody needs to work on it.")
OWN_APPEAL = N_("An appeal must be decided by a reviewer other than the one who rejected it.")


def _check_may_take(case: RefundCase, user_id: int) -> None:
    if case.open_order_id is None:
        raise Conflict(CLOSED, rule="closed")
    if not assignment.may_take(State(case.state), case.rejected_by_id, user_id):
        raise Forbidden(OWN_APPEAL, rule="same_reviewer")


def _set(case_id: int, guard: ColumnElement[bool], to: int | None) -> bool:
    """Set the case's assignee if ``guard`` still holds (and the case is open); the session's
    loaded case shows it after the commit (which expires what the session holds)."""
    return 1 == rows_matched(
        db.session.execute(
            update(CASES)
            .where(CASES.c.id == case_id, CASES.c.open_order_id.is_not(None), guard)
            .values(assignee_id=to, assigned_at=context.now() if to is not None else None)
        )
    )


def claim(case: RefundCase, actor: Actor) -> None:
    """``actor`` takes this case; Conflict if another reviewer holds it already."""
    user_id = _staff_id(actor)
    _check_may_take(case, user_id)
    if case.assignee_id == user_id:
        return
    case_id, order_id = case.id, case.order_id

    def work() -> None:
        if not _set(case_id, CASES.c.assignee_id.is_(None), user_id):
            raise Conflict(TAKEN, rule="assigned")
        record(assignment.CLAIMED, actor, case_id=case_id, order_id=order_id, data={"to": user_id})

    commit(work)


def release(case: RefundCase, actor: Actor) -> None:
    """``actor`` gives their case back to the queue; Conflict if it is not theirs (any more)."""
    user_id = _staff_id(actor)
    case_id, order_id = case.id, case.order_id

    def work() -> None:
        if not _set(case_id, CASES.c.assignee_id == user_id, None):
            raise Conflict(CHANGED, rule="assigned")
        record(
            assignment.RELEASED, actor, case_id=case_id, order_id=order_id, data={"from": user_id}
        )

    commit(work)


def reassign(case: RefundCase, actor: Actor, to_username: str, expected: int | None) -> None:
    """A supervisor gives the case to the reviewer ``to_username`` ("" for nobody).

    ``expected`` is the assignee the supervisor saw: if it changed since, Conflict (nothing is
    taken from a reviewer the supervisor did not see holding it).
    """
    supervisor = db.session.get(User, _staff_id(actor))
    if supervisor is None or supervisor.role != "supervisor":
        raise Forbidden(N_("Only a supervisor may reassign a case."), rule="supervisor")
    to_id: int | None = None
    if to_username:
        target = db.session.scalar(select(User).where(User.username == to_username))
        if target is None or not target.active or target.role not in ("reviewer", "supervisor"):
            raise DomainError(N_("There is no reviewer with that name."), rule="reviewer")
        to_id = target.id
        _check_may_take(case, to_id)
    elif case.open_order_id is None:
        raise Conflict(CLOSED, rule="closed")
    case_id, order_id = case.id, case.order_id
    guard = CASES.c.assignee_id.is_(None) if expected is None else CASES.c.assignee_id == expected

    def work() -> None:
        if not _set(case_id, guard, to_id):
            raise Conflict(CHANGED, rule="assigned")
        record(
            assignment.REASSIGNED,
            actor,
            case_id=case_id,
            order_id=order_id,
            data={"from": expected, "to": to_id},
        )

    commit(work)


def _takeable(user_id: int) -> list[ColumnElement[bool]]:
    c = RefundCase
    return [
        c.open_order_id.is_not(None),
        c.assignee_id.is_(None),
        c.deadline_at.is_not(None),
        c.state.in_(sorted(str(s) for s in assignment.TAKEABLE_STATES)),
        or_(
            c.state != str(State.APPEALED),
            c.rejected_by_id.is_(None),
            c.rejected_by_id != user_id,
        ),
    ]


def take_next(actor: Actor) -> str | None:
    """Give ``actor`` the unassigned case with the nearest deadline that they may decide, and
    return its number (None when there is none). Two reviewers taking at once never get the
    same case: PostgreSQL skips the row the other holds locked (FOR UPDATE SKIP LOCKED);
    elsewhere the update applies only while the case is still unassigned, and the next one is
    tried."""
    user_id = _staff_id(actor)
    c = RefundCase
    query = (
        select(c.id, c.order_id, c.case_no)
        .where(*_takeable(user_id))
        .order_by(c.deadline_at, c.id)
        .limit(1)
    )
    locking = db.engine.dialect.name == "postgresql"
    if locking:
        query = query.with_for_update(skip_locked=True, of=c)

    def work() -> str | None:
        for _ in range(_TAKE_TRIES):
            row = db.session.execute(query).first()
            if row is None:
                return None
            if _set(row.id, CASES.c.assignee_id.is_(None), user_id):
                record(
                    assignment.CLAIMED,
                    actor,
                    case_id=row.id,
                    order_id=row.order_id,
                    data={"to": user_id, "next": True},
                )
                return str(row.case_no)
        raise Conflict(
            N_("Other reviewers are taking cases at the same moment. Try again."),
            rule="assigned",
        )

    return commit(work)


def _staff_id(actor: Actor) -> int:
    if actor.user_id is None:
        raise NotFound(N_("Case not found."), rule="case")
    return actor.user_id
