"""Refund case use cases: apply, withdraw, answer, review decisions. Each commits once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.domain import deadlines, policy, risk
from portal.domain.notes import Note
from portal.domain.policy import Application, Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Order, RefundCase
from portal.services import context
from portal.services.actors import BUYER, SYSTEM, Actor
from portal.services.errors import ConcurrentChange, Conflict, DomainError, Forbidden, NotFound
from portal.services.integration import orders
from portal.services.messaging import notices
from portal.services.money.payouts import start_payout
from portal.services.policy_text import N_
from portal.services.refunds.transitions import (
    check_allowed,
    record,
    schedule_deadline_jobs,
    transition,
)
from portal.services.risk import assessment, plugin_signals, supplier_checks
from portal.services.unit_of_work import commit
from portal.services.uploads import evidence


@dataclass(frozen=True)
class ApplyInput:
    """A buyer's application, as plain values."""

    kind: Kind
    reason: Reason
    amount_fen: int
    explanation: str
    files: tuple[evidence.StoredFile, ...] = ()
    #: the network address the application came from (any text: kept only if it is an IP)
    address: str = ""


#: random case numbers tried before giving up (a day holds 16.7 million of them)
CASE_NO_TRIES = 8


def new_case_no() -> str:
    """A case number buyers can read out on the phone, not used by any case yet.

    Six random hex digits a day: two random numbers meet often once a platform files
    thousands of cases a day (one day in 15 at 1,500 cases), so a number already taken is
    drawn again. The unique constraint still guards two applications racing for one number.
    """
    prefix = "RF" + context.now().strftime("%y%m%d")
    for _ in range(CASE_NO_TRIES):
        number = prefix + secrets.token_hex(3).upper()
        if db.session.scalar(select(RefundCase.id).where(RefundCase.case_no == number)) is None:
            return number
    raise RuntimeError(f"no free case number after {CASE_NO_TRIES} tries on {prefix}")


def get_case(case_no: str) -> RefundCase:
    """The case with this number, or NotFound."""
    case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    if case is None:
        raise NotFound(N_("Case not found."), rule="case")
    return case


def find_case(case_id: int) -> RefundCase | None:
    """The case with this id, or None."""
    return db.session.get(RefundCase, case_id)


def eligibility(
    order: Order, reason: Reason, amount_fen: int, explanation: str = ""
) -> policy.Decision:
    """Whether the buyer may apply now, and the rule if not."""
    return policy.decide(
        orders.facts(order), Application(reason, amount_fen, explanation), context.now()
    )


def outlook(order: Order) -> policy.Decision:
    """What an application on this order would meet now (shown before the form is)."""
    return policy.outlook(orders.facts(order), context.now())


def apply_for_refund(order: Order, data: ApplyInput) -> RefundCase:
    """File a refund application; refused at once (nothing written) if a rule says no.

    Stored evidence files are discarded if the application is not saved.
    """
    try:
        if orders.open_case(order) is not None:
            raise Conflict(N_("This order already has an open refund case."), rule="case_open")
        decision = eligibility(order, data.reason, data.amount_fen, data.explanation)
        if not decision.eligible:
            if orders.open_case(order) is not None:
                # a case opened since the check above (the shop's cancellation, whose refund
                # took the money the rules just measured): say that, not the figure it moved
                raise Conflict(N_("This order already has an open refund case."), rule="case_open")
            raise DomainError(decision.message, rule=decision.rule, **decision.params)
        # the suppliers are asked before anything is written (bounded in time, never raises)
        supplier_answers = supplier_checks.ask(order, str(data.reason))
        from_plugins = plugin_signals.ask(
            order, str(data.reason), data.amount_fen, assessment.network_address(data.address)
        )
        case = RefundCase(
            case_no=new_case_no(),
            order_id=order.id,
            merchant_id=order.merchant_id,
            product_id=order.product_id or 0,
            channel=order.payment.channel if order.payment is not None else "",
            open_order_id=order.id,
            kind=str(data.kind),
            reason=str(data.reason),
            explanation=data.explanation.strip(),
            amount_requested_fen=data.amount_fen,
            state=str(State.SUBMITTED),
            deadline_at=None,
            applicant_address=assessment.network_address(data.address),
            created_at=context.now(),
            updated_at=context.now(),
        )
        db.session.add(case)
        db.session.flush()
        evidence.attach(case, list(data.files), uploaded_by=str(Role.BUYER))
        supplier_checks.keep(case, supplier_answers)
        found = assessment.on_filing(case, order, bool(data.files), from_plugins)
        record(
            "applied",
            BUYER,
            case=case,
            to=str(State.SUBMITTED),
            reason=case.explanation,
            data={
                "kind": case.kind,
                "reason": case.reason,
                "amount_fen": case.amount_requested_fen,
                "files": [f.sha256 for f in data.files],
                "risk_level": str(found.level),
                "risk_signals": found.to_json(),
            },
        )
        _set_review_deadline(case)
        _decide_at_once(case, order, decision, found)
        db.session.commit()
    except IntegrityError:  # a concurrent application or cancellation opened a case first
        db.session.rollback()
        evidence.discard(list(data.files))
        raise ConcurrentChange(
            N_("This order already has an open refund case."), rule="case_open"
        ) from None
    except Exception:
        db.session.rollback()
        evidence.discard(list(data.files))
        raise
    return case


def _decide_at_once(
    case: RefundCase, order: Order, decision: policy.Decision, found: risk.Assessment
) -> None:
    """Approve the case at once if a rule may (never when high risk): the order's own times
    prove it was not delivered, or the shop's fast lane takes it."""
    amount_fen = case.amount_requested_fen
    proven = decision.proven and context.setting("AUTO_APPROVE_NOT_DELIVERED")
    if not risk.may_decide_automatically(found.level):
        if proven:
            record("auto_approval_held", SYSTEM, case=case, note=Note("auto_approval_held"))
        return
    if proven:
        _approve(case, SYSTEM, amount_fen, _proof_note(order), auto=decision.rule)
        return
    rule = assessment.fast_lane_rule(case, order, found)
    if rule is not None:
        note = Note(str(rule), {"limit_fen": assessment.lane_limit(order)})
        _approve(case, SYSTEM, amount_fen, note, auto=str(rule))


def _proof_note(order: Order) -> Note:
    """Why a not-delivered order was approved at once, as a note (worded when read)."""
    deadline = policy.delivery_deadline(orders.facts(order))
    return Note("auto_not_delivered", {"deadline_at": deadline.isoformat() if deadline else ""})


def _set_review_deadline(case: RefundCase) -> None:
    rules = deadlines.Rules.from_config(context.setting)
    calendar = context.calendar()
    at, kind = deadlines.on_entry(
        State.SUBMITTED, now=context.now(), calendar=calendar, current=(None, ""), rules=rules
    )
    case.deadline_at, case.deadline_kind = at, kind
    case.remind_at = deadlines.reminder_for((at, kind), calendar, rules)
    case.merchant_deadline_at = deadlines.merchant_window(context.now(), calendar, rules)
    db.session.flush()
    notices.on_transition(case, State.SUBMITTED)
    schedule_deadline_jobs(case.id, case.deadline_at, case.remind_at, case.merchant_deadline_at)


def withdraw(case: RefundCase, reason: str = "") -> None:
    """The buyer withdraws an open case."""
    commit(lambda: transition(case, State.WITHDRAWN, BUYER, reason))


def answer_info_request(case: RefundCase, text: str, files: list[evidence.StoredFile]) -> None:
    """The buyer supplies the material asked for; the case goes back to review."""
    if not text.strip() and not files:
        evidence.discard(files)
        raise DomainError(N_("Add an answer or at least one file."), rule="empty_answer")

    def work() -> None:
        evidence.attach(case, files, uploaded_by=str(Role.BUYER))
        transition(
            case,
            State.UNDER_REVIEW,
            BUYER,
            text.strip(),
            data={"files": [f.sha256 for f in files]},
        )

    commit(work, files)


def start_review(case: RefundCase, actor: Actor) -> None:
    """A reviewer takes the case."""
    commit(lambda: transition(case, State.UNDER_REVIEW, actor))


def request_info(case: RefundCase, actor: Actor, what: str) -> None:
    """Ask the buyer for more material."""
    if not what.strip():
        raise DomainError(N_("Say what material is needed."), rule="empty_request")
    commit(
        lambda: transition(case, State.NEEDS_INFO, actor, what.strip(), info_request=what.strip())
    )


def approve(case: RefundCase, actor: Actor, amount_fen: int | None = None, note: str = "") -> None:
    """Decide for the buyer (full, or a smaller amount); refund-only cases start paying out.

    ``None`` means "as asked"; any amount given, 0 included, is checked as given.
    """
    amount = case.amount_requested_fen if amount_fen is None else amount_fen
    commit(lambda: _approve(case, actor, amount, note))


def approve_in_transaction(
    case: RefundCase, actor: Actor, amount_fen: int, note: str | Note
) -> None:
    """``approve`` inside a caller's transaction (e.g. accepting an offer); no commit.
    ``note``: a person's words, or the system's Note (worded when read)."""
    _approve(case, actor, amount_fen, note)


def _approve(
    case: RefundCase, actor: Actor, amount_fen: int, note: str | Note, auto: str = ""
) -> None:
    # A case already decided is told as such (409), never measured against the money its own
    # approval has just committed: a double submit, or a second reviewer a moment late, would
    # otherwise hear "more than is still refundable". So the state is checked first, and the
    # money left on the order only once the guarded update has made this request the one
    # that decides (a concurrent decision has then either failed it or not begun).
    check_allowed(case, State.APPROVED, actor)
    if amount_fen <= 0 or amount_fen > case.amount_requested_fen:
        raise DomainError(
            N_("The approved amount must be more than 0 and at most the amount asked for."),
            rule="approve_amount",
        )
    _check_not_self_appeal(case, actor)
    said = note if isinstance(note, str) else ""
    system_note = note if isinstance(note, Note) else None
    transition(
        case,
        State.APPROVED,
        actor,
        said,
        data={"amount_fen": amount_fen, "auto_rule": auto},
        note=system_note,
        amount_approved_fen=amount_fen,
        decided_by_id=actor.user_id,
        decision_note=said,
        decision_msg=system_note.to_json() if system_note else None,
        auto_rule=auto,
    )
    if amount_fen > orders.refundable_fen(case.order, exclude_case_id=case.id):
        raise DomainError(  # the caller's transaction rolls the decision back
            N_("That is more than is still refundable on this order."), rule="over_refund"
        )
    if case.kind == str(Kind.RETURN_AND_REFUND):
        _withdraw_unrevealed_codes(case, actor)
    else:
        # a buyer accepting the merchant's offer approves; the system sends the money
        start_payout(case, SYSTEM if actor.role == Role.BUYER else actor, amount_fen)


def _withdraw_unrevealed_codes(case: RefundCase, actor: Actor) -> None:
    now = context.now()
    ids = []
    for code in case.order.codes:
        if code.returned_at is None and code.first_revealed_at is None:
            code.returned_at = now
            ids.append(code.id)
    record("codes_withdrawn", actor, case=case, data={"code_ids": ids})


def confirm_return(case: RefundCase, actor: Actor) -> None:
    """The merchant (or platform) confirms the goods came back; the refund is paid."""
    if case.kind != str(Kind.RETURN_AND_REFUND):
        raise DomainError(N_("This case has nothing to return."), rule="no_return")
    if actor.role == Role.MERCHANT and actor.merchant_id != case.order.merchant_id:
        raise Forbidden(N_("This case is not on your shop's orders."), rule="merchant")
    if case.state != str(State.APPROVED):
        raise Conflict(
            N_("This action is not possible while the case is %(state)s."),
            rule="transition",
            state=case.state,
        )

    def work() -> None:
        record("return_confirmed", actor, case=case)
        if case.amount_approved_fen is None:  # an approved case always has its amount
            raise DomainError(N_("This case has no approved amount."), rule="approve_amount")
        start_payout(case, actor, case.amount_approved_fen)

    commit(work)


def reject(case: RefundCase, actor: Actor, reason: str) -> None:
    """Decide against the buyer, with a reason the buyer will read."""
    if not reason.strip():
        raise DomainError(N_("Give the reason for the rejection."), rule="empty_reason")
    _check_not_self_appeal(case, actor)

    def work() -> None:
        # cycle: portal.services.refunds.cases -> .disputes -> .cases
        from portal.services.refunds.disputes import release_frozen

        release_frozen(case, actor, "appeal decided for the merchant")
        transition(
            case,
            State.REJECTED,
            actor,
            reason.strip(),
            rejected_by_id=actor.user_id,
            decided_by_id=actor.user_id,
            decision_note=reason.strip(),
            decision_msg=None,
        )

    commit(work)


def open_negotiation(case: RefundCase, actor: Actor, note: str = "") -> None:
    """Start a three-way negotiation between buyer, merchant and platform."""
    commit(lambda: transition(case, State.NEGOTIATING, actor, note.strip()))


def _check_not_self_appeal(case: RefundCase, actor: Actor) -> None:
    if case.state == str(State.APPEALED) and actor.user_id and actor.user_id == case.rejected_by_id:
        raise Forbidden(
            N_("An appeal must be decided by a reviewer other than the one who rejected it."),
            rule="same_reviewer",
        )
