"""Reviewer pages: the queue ordered by deadline, the case view and its decisions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.domain import assignment as assignment_rules
from portal.domain import states
from portal.domain.case_lists import Assigned, CaseFilter
from portal.domain.policy import REASON_LABELS, Reason
from portal.domain.states import Role, State
from portal.infra.i18n import gettext
from portal.models import RefundCase
from portal.plugins.startup import channels
from portal.services import context, unit_of_work
from portal.services.accounts import staff
from portal.services.audit import case_file
from portal.services.errors import DomainError
from portal.services.integration import orders
from portal.services.money import balances, payout_lists
from portal.services.privacy import holds
from portal.services.refunds import assignment, cases, contacts, disputes, queues
from portal.services.refunds.timeline import timeline
from portal.services.risk import assessment
from portal.services.uploads import similar_pictures
from portal.services.uploads.evidence import same_picture_elsewhere
from portal.views import case_filters, outcomes
from portal.views.access import reviewer_required, staff_actor, supervisor_required
from portal.views.checklist import for_case
from portal.views.downloads import case_file_response, wording
from portal.views.forms import (
    ApproveForm,
    EmptyForm,
    FreezeForm,
    HoldForm,
    MessageForm,
    NoteForm,
    OfferForm,
    ReasonForm,
    RevealContactForm,
)
from portal.views.htmx_util import done, is_htmx, page_or_fragment
from portal.views.thread import thread_context
from portal.web import domain_message

bp = Blueprint("review", __name__, url_prefix="/review")


@bp.get("/")
@reviewer_required
def queue() -> ResponseReturnValue:
    """The queue, a page at a time, filtered; the rows alone for htmx (filters and paging)."""
    asked = case_filters.read(request.args, case_filters.REVIEW_PARAMS)
    listing = queues.review_queue(asked.filter, asked.cursor, current_user.id)
    ctx: dict[str, Any] = {
        "listing": listing,
        "args": asked.args,
        "now": context.now(),
        "reason_labels": REASON_LABELS,
        "url": case_filters.page_url("review.queue", asked.args),
    }
    if is_htmx():
        return render_template("review/_queue_rows.html", **ctx)
    mine = queues.count_for(CaseFilter(assigned=Assigned.ME), current_user.id)
    return render_template(
        "review/queue.html",
        **ctx,
        mine=mine,
        states=sorted(queues.QUEUE_STATES),
        reasons=list(Reason),
        channel_ids=channels().ids(),
        take_form=EmptyForm(),
    )


@bp.post("/take-next")
@reviewer_required
def take_next() -> ResponseReturnValue:
    """Take the unassigned case with the nearest deadline that this reviewer may decide."""
    if not EmptyForm().validate_on_submit():
        return redirect(url_for("review.queue"), code=303)
    case_no = assignment.take_next(staff_actor())
    if case_no is None:
        flash(gettext(outcomes.NOTHING_TO_TAKE))
        return redirect(url_for("review.queue"), code=303)
    flash(gettext(outcomes.CLAIMED))
    return redirect(url_for("review.case", case_no=case_no), code=303)


def _context(case: RefundCase, **forms: Any) -> dict[str, Any]:
    order = case.order
    may_decide = assignment_rules.may_decide(
        case.assignee_id, current_user.id, current_user.role == "supervisor"
    )
    return {
        "checklist": for_case(case),
        "risk": assessment.measure(case, order),
        "same_elsewhere": same_picture_elsewhere(case),
        "like_elsewhere": similar_pictures.near_by_file(case),
        "case": case,
        "order": order,
        "events": timeline(case, staff=True),
        "refundable": orders.refundable_fen(order, exclude_case_id=case.id),
        "payouts": payout_lists.of_case(case.id),
        "actions": states.targets(State(case.state), Role.REVIEWER) if may_decide else (),
        "worked_elsewhere": not may_decide,
        "reason_labels": REASON_LABELS,
        "now": context.now(),
        "forms": {
            "empty": forms.get("empty") or EmptyForm(),
            "info": forms.get("info") or ReasonForm(prefix="info"),
            "approve": forms.get("approve") or ApproveForm(prefix="approve"),
            "reject": forms.get("reject") or ReasonForm(prefix="reject"),
            "negotiate": forms.get("negotiate") or NoteForm(prefix="negotiate"),
        },
        "error": forms.get("error"),
        "reveal_form": forms.get("reveal") or RevealContactForm(prefix="reveal"),
        "contact_shown": forms.get("contact_shown"),
        "reveal_url": url_for("review.reveal_contact", case_no=case.case_no),
        "file_url": url_for("review.download_file", case_no=case.case_no),
        "pdf_url": url_for("review.download_pdf", case_no=case.case_no),
        "may_take": assignment_rules.may_take(
            State(case.state), case.rejected_by_id, current_user.id
        ),
        "reviewers": staff.reviewers() if current_user.role == "supervisor" else [],
        "freeze_form": FreezeForm(prefix="freeze"),
        "legal_hold": holds.active_hold(case.id),
        "hold_form": HoldForm(prefix="hold"),
        "frozen": balances.frozen_for_case(case.id),
        "urls": {
            "message": url_for("review.message", case_no=case.case_no),
            "offer": url_for("review.offer", case_no=case.case_no),
            "accept": url_for("review.accept", case_no=case.case_no),
        },
        **thread_context(case, str(Role.REVIEWER)),
    }


@bp.get("/cases/<case_no>")
@reviewer_required
def case(case_no: str) -> ResponseReturnValue:
    case = cases.get_case(case_no)
    return page_or_fragment("review/case.html", "review/_panel.html", **_context(case))


def _act(
    case_no: str,
    form_key: str,
    form: FlaskForm,
    action: Callable[[RefundCase, Any], object],
    said: str,
) -> ResponseReturnValue:
    case = cases.get_case(case_no)
    if form.validate_on_submit():
        try:
            action(case, form)
        except DomainError as exc:
            unit_of_work.rollback()
            ctx = _context(case, **{form_key: form, "error": domain_message(exc)})
            return page_or_fragment(
                "review/case.html", "review/_panel.html", **ctx
            ), exc.status_code
        flash(gettext(said))
        case = cases.get_case(case_no)
        return done(url_for("review.case", case_no=case_no), "review/_panel.html", **_context(case))
    ctx = _context(case, **{form_key: form})
    return page_or_fragment("review/case.html", "review/_panel.html", **ctx), 422


@bp.post("/cases/<case_no>/start")
@reviewer_required
def start(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "empty",
        EmptyForm(),
        lambda c, f: cases.start_review(c, staff_actor()),
        outcomes.STARTED,
    )


@bp.post("/cases/<case_no>/request-info")
@reviewer_required
def request_info(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "info",
        ReasonForm(prefix="info"),
        lambda c, f: cases.request_info(c, staff_actor(), f.note.data),
        outcomes.INFO_REQUESTED,
    )


@bp.post("/cases/<case_no>/approve")
@reviewer_required
def approve(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "approve",
        ApproveForm(prefix="approve"),
        lambda c, f: cases.approve(c, staff_actor(), f.amount.fen, f.note.data or ""),
        outcomes.APPROVED,
    )


@bp.post("/cases/<case_no>/reject")
@reviewer_required
def reject(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "reject",
        ReasonForm(prefix="reject"),
        lambda c, f: cases.reject(c, staff_actor(), f.note.data),
        outcomes.REJECTED,
    )


@bp.post("/cases/<case_no>/negotiate")
@reviewer_required
def negotiate(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "negotiate",
        NoteForm(prefix="negotiate"),
        lambda c, f: cases.open_negotiation(c, staff_actor(), f.note.data or ""),
        outcomes.NEGOTIATION_OPENED,
    )


@bp.post("/cases/<case_no>/confirm-return")
@reviewer_required
def confirm_return(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "empty",
        EmptyForm(),
        lambda c, f: cases.confirm_return(c, staff_actor()),
        outcomes.RETURN_CONFIRMED,
    )


@bp.post("/cases/<case_no>/message")
@reviewer_required
def message(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "msg",
        MessageForm(prefix="msg"),
        lambda c, f: disputes.post_message(c, staff_actor(), f.text.data),
        outcomes.MESSAGE_SENT,
    )


@bp.post("/cases/<case_no>/offer")
@reviewer_required
def offer(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "offer",
        OfferForm(prefix="offer"),
        lambda c, f: disputes.make_offer(c, staff_actor(), f.amount.fen, f.note.data or ""),
        outcomes.OFFER_SENT,
    )


@bp.post("/cases/<case_no>/accept")
@reviewer_required
def accept(case_no: str) -> ResponseReturnValue:
    offer_id = request.form.get("offer_id", type=int) or 0
    return _act(
        case_no,
        "accept",
        EmptyForm(prefix="accept"),
        lambda c, f: disputes.accept_offer(c, staff_actor(), offer_id),
        outcomes.OFFER_ACCEPTED,
    )


@bp.post("/cases/<case_no>/freeze")
@reviewer_required
def freeze(case_no: str) -> ResponseReturnValue:
    return _act(
        case_no,
        "freeze",
        FreezeForm(prefix="freeze"),
        lambda c, f: disputes.freeze_funds(c, staff_actor(), f.amount.fen),
        outcomes.FUNDS_FROZEN,
    )


@bp.post("/cases/<case_no>/claim")
@reviewer_required
def claim(case_no: str) -> ResponseReturnValue:
    """This reviewer takes the case (409 if another reviewer holds it)."""
    return _act(
        case_no,
        "empty",
        EmptyForm(),
        lambda c, f: assignment.claim(c, staff_actor()),
        outcomes.CLAIMED,
    )


@bp.post("/cases/<case_no>/release")
@reviewer_required
def release(case_no: str) -> ResponseReturnValue:
    """This reviewer gives the case back to the queue."""
    return _act(
        case_no,
        "empty",
        EmptyForm(),
        lambda c, f: assignment.release(c, staff_actor()),
        outcomes.RELEASED,
    )


@bp.post("/cases/<case_no>/assign")
@supervisor_required
def assign(case_no: str) -> ResponseReturnValue:
    """A supervisor gives the case to a reviewer, or to nobody (409 if it changed hands since
    the supervisor's page showed it)."""
    expected = request.form.get("expected", "")
    seen = int(expected) if expected.isdigit() and len(expected) < 19 else None
    return _act(
        case_no,
        "empty",
        EmptyForm(),
        lambda c, f: assignment.reassign(c, staff_actor(), request.form.get("to", "")[:80], seen),
        outcomes.REASSIGNED,
    )


@bp.post("/cases/<case_no>/contact")
@reviewer_required
def reveal_contact(case_no: str) -> ResponseReturnValue:
    """The buyer's whole contact, on this page only, once the request and its reason are
    recorded; the masked one (422) without a reason."""
    case = cases.get_case(case_no)
    form = RevealContactForm(prefix="reveal")
    if not form.validate_on_submit():
        ctx = _context(case, reveal=form)
        return page_or_fragment("review/case.html", "review/_panel.html", **ctx), 422
    try:
        shown = contacts.reveal(case, staff_actor(), form.why.data or "")
    except DomainError as exc:
        ctx = _context(case, reveal=form, error=domain_message(exc))
        return page_or_fragment("review/case.html", "review/_panel.html", **ctx), exc.status_code
    ctx = _context(cases.get_case(case_no), contact_shown=shown)
    return page_or_fragment("review/case.html", "review/_panel.html", **ctx)


@bp.post("/cases/<case_no>/file")
@reviewer_required
def download_file(case_no: str) -> ResponseReturnValue:
    """The case file (ZIP), the download recorded first."""
    case = cases.get_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(case_file.download(case, staff_actor(), case_file.STAFF, wording()))


@bp.post("/cases/<case_no>/file.pdf")
@reviewer_required
def download_pdf(case_no: str) -> ResponseReturnValue:
    """The case file as a PDF, the download recorded first."""
    case = cases.get_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(
        case_file.download_pdf(case, staff_actor(), case_file.STAFF, wording())
    )
