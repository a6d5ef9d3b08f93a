"""A buyer's erasure request: asked from the case page after the lookup, answered by staff by
its deadline (``ERASURE_REQUEST_WORKING_DAYS`` working days): done (the order's personal data
erased at once, as the retention job would, holds permitting) or refused with a reason. The
request, and its answer, are recorded in the case's chain."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from portal.domain import privacy
from portal.domain.privacy import Hold, RequestState
from portal.extensions import db
from portal.models import ErasureRequest, RefundCase
from portal.services import context
from portal.services.actors import BUYER, Actor
from portal.services.dml import rows_matched
from portal.services.errors import Conflict, DomainError, NotFound
from portal.services.policy_text import N_
from portal.services.privacy import erasure, holds
from portal.services.refunds.transitions import record
from portal.services.unit_of_work import commit

REFUSAL_MAX = 2000
TABLE = ErasureRequest.__table__


@dataclass(frozen=True)
class Row:
    """A request as the staff page lists it, with what holds its order back now."""

    request: ErasureRequest
    holds: list[Hold]


def open_for(order_id: int) -> ErasureRequest | None:
    """The order's request still waiting for an answer, if any."""
    return db.session.scalars(
        select(ErasureRequest).where(
            ErasureRequest.order_id == order_id, ErasureRequest.state == RequestState.OPEN
        )
    ).first()


def ask(case: RefundCase) -> ErasureRequest:
    """The buyer asks for the personal data on the case's order to be erased (once at a
    time; recorded)."""

    def work() -> ErasureRequest:
        if case.order.erased_at is not None:
            raise Conflict(N_("The personal data was already erased."), rule="erased")
        if open_for(case.order_id) is not None:
            raise Conflict(N_("You have already asked; staff will answer."), rule="asked")
        now = context.now()
        due = context.calendar().add_working_days(
            now, int(context.setting("ERASURE_REQUEST_WORKING_DAYS"))
        )
        request = ErasureRequest(
            case_id=case.id,
            order_id=case.order_id,
            state=str(privacy.INITIAL),
            due_at=due,
            created_at=now,
        )
        db.session.add(request)
        db.session.flush()
        record(
            privacy.REQUESTED,
            BUYER,
            case=case,
            data={"request_id": request.id, "due_at": due.isoformat()},
        )
        return request

    return commit(work)


def listing(limit: int = 200) -> tuple[list[Row], list[ErasureRequest]]:
    """Open requests by deadline (each with its order's holds now), and the latest answered."""
    now = context.now()
    waiting = db.session.scalars(
        select(ErasureRequest)
        .where(ErasureRequest.state == RequestState.OPEN)
        .order_by(ErasureRequest.due_at, ErasureRequest.id)
        .limit(limit)
    ).all()
    answered = db.session.scalars(
        select(ErasureRequest)
        .where(ErasureRequest.state != RequestState.OPEN)
        .order_by(ErasureRequest.answered_at.desc(), ErasureRequest.id.desc())
        .limit(50)
    ).all()
    rows = [Row(r, holds.of_order(r.order_id, now, None)) for r in waiting]
    return rows, list(answered)


def _get(request_id: int) -> ErasureRequest:
    request = db.session.get(ErasureRequest, request_id)
    if request is None:
        raise NotFound(N_("No such request."), rule="no_request")
    return request


def _move(request: ErasureRequest, to: RequestState, actor: Actor, refusal: str = "") -> None:
    """The request's one transition: compare-and-set from open, with its event."""
    if not privacy.may_answer(request.state, to):
        raise Conflict(N_("This request was already answered."), rule="answered")
    moved = db.session.execute(
        update(TABLE)
        .where(TABLE.c.id == request.id, TABLE.c.state == str(RequestState.OPEN))
        .values(
            state=str(to),
            answered_at=context.now(),
            answered_by=actor.label,
            answered_by_id=actor.user_id,
            refusal=refusal,
        )
    )
    if rows_matched(moved) == 0:
        raise Conflict(N_("This request was already answered."), rule="answered")
    record(
        privacy.REQUEST_ANSWERED,
        actor,
        case_id=request.case_id,
        order_id=request.order_id,
        frm=str(RequestState.OPEN),
        to=str(to),
        reason=refusal,
        data={"request_id": request.id},
    )


def done(request_id: int, actor: Actor) -> None:
    """Erase the order's personal data now and close the request (``erasure.Held`` while a
    hold stands: refuse it with the reason, or wait)."""
    request = _get(request_id)
    if request.state != RequestState.OPEN:
        raise Conflict(N_("This request was already answered."), rule="answered")

    def close() -> None:
        _move(request, RequestState.DONE, actor)

    erased = erasure.erase_order(
        request.order_id,
        actor,
        erasure.REQUEST,
        retention_days=None,
        request_id=request.id,
        also=close,
    )
    if not erased:  # erased already (by the retention job, say): the request is done
        commit(close)
    db.session.expire_all()


def refuse(request_id: int, actor: Actor, reason: str) -> None:
    """Refuse the request, saying why (the buyer reads it on the case page)."""
    why = (reason or "").strip()
    if not why:
        raise DomainError(N_("Give the reason for refusing."), rule="empty_reason")
    if len(why) > REFUSAL_MAX:
        raise DomainError(
            N_("Keep the reason under %(n)s characters."), rule="refusal", n=str(REFUSAL_MAX)
        )
    request = _get(request_id)
    commit(lambda: _move(request, RequestState.REFUSED, actor, why))
    db.session.expire_all()
