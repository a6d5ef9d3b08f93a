"""Disputes: the merchant's answer, three-way negotiation with offers, appeals, frozen funds."""

from __future__ import annotations

from sqlalchemy import select

from portal.domain.freeze_states import FreezeState
from portal.domain.money import format_yuan
from portal.domain.notes import Note
from portal.domain.offer_states import OfferState
from portal.domain.states import CONVERSATION_STATES, Role, State
from portal.extensions import db
from portal.models import Freeze, Offer, RefundCase
from portal.services import context
from portal.services.actors import BUYER, Actor
from portal.services.errors import Conflict, DomainError, Forbidden
from portal.services.integration import orders
from portal.services.messaging import notices
from portal.services.money import balances, ledger
from portal.services.policy_text import N_
from portal.services.refunds import cases, tickets
from portal.services.refunds.transitions import move_offer, record, transition
from portal.services.unit_of_work import commit
from portal.services.uploads import evidence


def check_party(case: RefundCase, actor: Actor) -> None:
    """Merchants act only on their own shop's cases (buyers are checked by their session)."""
    if actor.role == Role.MERCHANT and actor.merchant_id != case.order.merchant_id:
        raise Forbidden(N_("This case is not on your shop's orders."), rule="merchant")


def merchant_agree(case: RefundCase, actor: Actor) -> None:
    """The merchant agrees to refund in full."""
    check_party(case, actor)
    cases.approve(case, actor, case.amount_requested_fen, "merchant agreed")


def merchant_refuse(case: RefundCase, actor: Actor, reason: str) -> None:
    """The merchant refuses with a reason: the platform steps in with a negotiation."""
    check_party(case, actor)
    if not reason.strip():
        raise DomainError(N_("Give the reason for refusing."), rule="empty_reason")
    commit(
        lambda: transition(case, State.NEGOTIATING, actor, reason.strip(), data={"refused": True})
    )


def post_message(case: RefundCase, actor: Actor, text: str) -> None:
    """A message in the case's negotiation thread, marked with the author's role."""
    check_party(case, actor)
    if State(case.state) not in CONVERSATION_STATES:
        raise DomainError(
            N_("Messages can be written until the case is decided."), rule="thread_closed"
        )
    text = tickets.check_text(text, N_("Write a message."))
    commit(lambda: record("message", actor, case=case, reason=text))


def contact_merchant(case: RefundCase, text: str) -> None:
    """The buyer writes to the shop from the case, at any time before the decision.

    The message joins the case's thread (the reviewer reads it too), addressed to the shop
    (``data.to``), and the shop gets a notice in its inbox.
    """
    if State(case.state) not in CONVERSATION_STATES:
        raise DomainError(
            N_("The shop can be written to from the case until it is decided."),
            rule="thread_closed",
        )
    text = tickets.check_text(text, N_("Write a message."))

    def work() -> None:
        record("message", BUYER, case=case, reason=text, data={"to": str(Role.MERCHANT)})
        notices.add(case, notices.MERCHANT, "buyer_message", notices.BUYER_WROTE)

    commit(work)


def add_evidence(case: RefundCase, files: list[evidence.StoredFile]) -> None:
    """The buyer adds files to a case that is not decided yet (no state change)."""
    if State(case.state) not in CONVERSATION_STATES:
        evidence.discard(files)
        raise DomainError(N_("Files can be added until the case is decided."), rule="thread_closed")
    if not files:
        raise DomainError(N_("Choose at least one file."), rule="no_files")

    def work() -> None:
        evidence.attach(case, files, uploaded_by=str(Role.BUYER))
        record("evidence_added", BUYER, case=case, data={"files": [f.sha256 for f in files]})

    commit(work, files)


def make_offer(case: RefundCase, actor: Actor, amount_fen: int | None, note: str = "") -> Offer:
    """Offer a refund amount; an open offer from the other side becomes countered.

    A merchant offering less than asked on a case not yet in negotiation opens one.
    """
    check_party(case, actor)
    if amount_fen is None or amount_fen <= 0:
        raise DomainError(N_("Enter the amount you offer."), rule="offer_amount")
    refundable = orders.refundable_fen(case.order, exclude_case_id=case.id)
    if amount_fen > refundable:
        raise DomainError(
            N_("An offer can be at most the refundable %(max)s yuan."),
            rule="offer_over",
            max=format_yuan(refundable),
        )

    def work() -> Offer:
        if case.state != str(State.NEGOTIATING):
            if actor.role == Role.MERCHANT and case.state in (State.SUBMITTED, State.UNDER_REVIEW):
                transition(case, State.NEGOTIATING, actor, note.strip(), data={"offer": True})
            else:
                raise DomainError(N_("The negotiation is not open."), rule="not_negotiating")
        for waiting in db.session.scalars(
            select(Offer).where(Offer.case_id == case.id, Offer.state == OfferState.OPEN)
        ).all():
            move_offer(waiting, OfferState.COUNTERED, actor, case)  # answered meanwhile: stays
        offer = Offer(
            case_id=case.id,
            by_role=str(actor.role),
            by_user_id=actor.user_id,
            amount_fen=amount_fen,
            note=note.strip()[:2000],
            created_at=context.now(),
        )
        db.session.add(offer)
        db.session.flush()
        record(
            "offer",
            actor,
            case=case,
            reason=offer.note,
            data={"offer_id": offer.id, "amount_fen": amount_fen},
        )
        return offer

    return commit(work)


def accept_offer(case: RefundCase, actor: Actor, offer_id: int) -> None:
    """Accept the other side's open offer: it becomes the approved amount and is paid out."""
    check_party(case, actor)
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.case_id != case.id:
        raise DomainError(N_("Offer not found."), rule="offer")
    if offer.state != OfferState.OPEN:
        raise DomainError(
            N_("That offer was already countered or answered; look at the latest offer."),
            rule="offer_closed",
        )
    if offer.by_role == str(actor.role):
        raise DomainError(N_("You cannot accept your own offer."), rule="own_offer")

    def work() -> None:
        amount_fen = offer.amount_fen
        if not move_offer(offer, OfferState.ACCEPTED, actor, case):
            raise DomainError(
                N_("That offer was already countered or answered."), rule="offer_closed"
            )
        cases.approve_in_transaction(case, actor, amount_fen, Note("offer_accepted"))

    commit(work)


def open_offer(case: RefundCase) -> Offer | None:
    """The offer waiting for an answer, if any."""
    return db.session.scalar(
        select(Offer).where(Offer.case_id == case.id, Offer.state == OfferState.OPEN)
    )


def offers_of(case: RefundCase) -> list[Offer]:
    """Every offer of the case, oldest first."""
    return list(
        db.session.scalars(select(Offer).where(Offer.case_id == case.id).order_by(Offer.id))
    )


APPEAL_CLOSED_RULES = ("second_appeal", "not_rejected")


def appeal_refusal(case: RefundCase) -> DomainError | None:
    """Why this case cannot be appealed now (asked before the form is shown), or None."""
    if case.appeal_count >= 1:
        return Conflict(N_("This case has already been appealed once."), rule="second_appeal")
    if case.state != str(State.REJECTED):
        return Conflict(N_("Only a rejected case can be appealed."), rule="not_rejected")
    return None


def appeal(case: RefundCase, statement: str, files: list[evidence.StoredFile]) -> None:
    """The buyer appeals a rejection, once, with a statement and more evidence."""
    refusal = appeal_refusal(case)
    if refusal is not None:
        evidence.discard(files)
        raise refusal
    if len(statement.strip()) < 10:
        evidence.discard(files)
        raise DomainError(
            N_("Explain in a few sentences why the decision is wrong."), rule="statement"
        )
    if orders.open_case(case.order) is not None:
        evidence.discard(files)
        raise Conflict(N_("This order already has an open refund case."), rule="case_open")

    def work() -> None:
        evidence.attach(case, files, uploaded_by=str(Role.BUYER))
        transition(
            case,
            State.APPEALED,
            BUYER,
            statement.strip()[:2000],
            data={"files": [f.sha256 for f in files]},
            appeal_count=case.appeal_count + 1,
        )

    commit(work, files)


def freeze_funds(case: RefundCase, actor: Actor, amount_fen: int | None) -> Freeze:
    """Freeze the merchant's funds for the amount in dispute while an appeal is open."""
    if actor.role != Role.REVIEWER:
        raise Forbidden(N_("Only the platform can freeze funds."), rule="freeze_role")
    if case.state != str(State.APPEALED):
        raise DomainError(
            N_("Funds can be frozen only while an appeal is open."), rule="freeze_state"
        )
    disputed = case.amount_requested_fen
    already = balances.frozen_for_case(case.id)
    amount = disputed - already if amount_fen is None else amount_fen  # 0 is not "not given"
    if amount <= 0 or already + amount > disputed:
        raise DomainError(
            N_("You can freeze at most the amount in dispute (%(max)s yuan)."),
            rule="freeze_over_dispute",
            max=format_yuan(disputed - already),
        )

    def work() -> Freeze:
        row = ledger.freeze(case.id, case.order, amount)
        db.session.flush()
        record("funds_frozen", actor, case=case, data={"freeze_id": row.id, "amount_fen": amount})
        return row

    return commit(work)


def release_frozen(case: RefundCase, actor: Actor, memo: str) -> None:
    """Release every freeze of the case (no commit: part of the decision's transaction)."""
    for row in db.session.scalars(
        select(Freeze).where(Freeze.case_id == case.id, Freeze.state == FreezeState.FROZEN)
    ).all():
        ledger.release(row, memo, actor)
