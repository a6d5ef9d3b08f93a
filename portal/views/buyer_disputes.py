"""Buyer actions beyond the application: negotiation, writing to the shop, appeal, support
ticket."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from portal.infra.i18n import gettext
from portal.services.actors import BUYER
from portal.services.errors import DomainError
from portal.services.refunds import disputes, tickets
from portal.services.uploads import evidence
from portal.views import outcomes
from portal.views.buyer import _my_case, case_page
from portal.views.forms import AddFilesForm, AppealForm, EmptyForm, MessageForm, OfferForm
from portal.web import domain_message

bp = Blueprint("buyer_disputes", __name__)


def _act(case_no: str, form: FlaskForm, action: Callable, said: str) -> ResponseReturnValue:
    case = _my_case(case_no)
    if form.validate_on_submit():
        try:
            action(case, form)
        except DomainError as exc:
            return case_page(case, error=domain_message(exc), status=exc.status_code)
        flash(gettext(said))
        return redirect(url_for("buyer.case", case_no=case_no) + "#thread", code=303)
    first = next((e for errors in form.errors.values() for e in errors), None)
    return case_page(case, error=str(first) if first else gettext("Check the form."), status=422)


@bp.post("/cases/<case_no>/message")
def message(case_no: str) -> ResponseReturnValue:
    """Write in the negotiation thread."""
    return _act(
        case_no,
        MessageForm(prefix="msg"),
        lambda c, f: disputes.post_message(c, BUYER, f.text.data),
        outcomes.MESSAGE_SENT,
    )


@bp.post("/cases/<case_no>/contact-shop")
def contact_shop(case_no: str) -> ResponseReturnValue:
    """Write to the shop from the case (any time before the decision)."""
    return _act(
        case_no,
        MessageForm(prefix="shop"),
        lambda c, f: disputes.contact_merchant(c, f.text.data or ""),
        outcomes.WROTE_TO_SHOP,
    )


@bp.post("/cases/<case_no>/offer")
def offer(case_no: str) -> ResponseReturnValue:
    """Counter-offer an amount."""
    return _act(
        case_no,
        OfferForm(prefix="offer"),
        lambda c, f: disputes.make_offer(c, BUYER, f.amount.fen, f.note.data or ""),
        outcomes.OFFER_SENT,
    )


@bp.post("/cases/<case_no>/accept")
def accept(case_no: str) -> ResponseReturnValue:
    """Accept the merchant's or platform's offer."""
    offer_id = request.form.get("offer_id", type=int) or 0
    return _act(
        case_no,
        EmptyForm(prefix="accept"),
        lambda c, f: disputes.accept_offer(c, BUYER, offer_id),
        outcomes.OFFER_ACCEPTED,
    )


@bp.post("/cases/<case_no>/files")
def add_files(case_no: str) -> ResponseReturnValue:
    """Add evidence to a case that is not decided yet."""
    case = _my_case(case_no)
    form = AddFilesForm(prefix="add")
    if not form.validate_on_submit():
        return case_page(case, error=gettext("Check the form."), status=422)
    try:
        uploads = request.files.getlist(form.files.name)
        with evidence.stored_uploads(uploads, evidence.room_left(case)) as stored:
            disputes.add_evidence(case, stored)
    except DomainError as exc:
        return case_page(case, error=domain_message(exc), status=exc.status_code)
    flash(gettext(outcomes.FILES_ADDED))
    return redirect(url_for("buyer.case", case_no=case_no), code=303)


@bp.route("/cases/<case_no>/appeal", methods=["GET", "POST"])
def appeal(case_no: str) -> ResponseReturnValue:
    """Appeal a rejection once, with a statement and more evidence."""
    case = _my_case(case_no)
    closed = disputes.appeal_refusal(case)
    if closed is not None and request.method == "GET":  # decided already: no form to fill in
        flash(domain_message(closed))
        return redirect(url_for("buyer.case", case_no=case_no), code=303)
    form = AppealForm()
    status = 200
    if form.validate_on_submit():
        try:
            uploads = request.files.getlist(form.files.name)
            with evidence.stored_uploads(uploads, evidence.room_left(case)) as stored:
                disputes.appeal(case, form.statement.data or "", stored)
        except DomainError as exc:
            if exc.rule in disputes.APPEAL_CLOSED_RULES:  # decided meanwhile (another tab)
                flash(domain_message(exc))
                return redirect(url_for("buyer.case", case_no=case_no), code=303)
            form.form_errors.append(domain_message(exc))
            status = exc.status_code
        else:
            flash(gettext("Your appeal was submitted. Another reviewer will decide it."))
            return redirect(url_for("buyer.case", case_no=case_no), code=303)
    elif request.method == "POST":
        status = 422
    return render_template("buyer/appeal.html", case=case, form=form), status


@bp.route("/cases/<case_no>/ticket", methods=["GET", "POST"])
def ticket(case_no: str) -> ResponseReturnValue:
    """Open (or continue) a support ticket from the case (before its decision, or late);
    order and case are attached."""
    case = _my_case(case_no)
    form = MessageForm(prefix="ticket")
    existing = tickets.ticket_of(case)
    status = 200
    if form.validate_on_submit():
        try:
            if existing is None:
                tickets.open_ticket(case, BUYER, form.text.data or "")
            else:
                tickets.reply(existing.id, BUYER, form.text.data or "")
        except DomainError as exc:
            form.form_errors.append(domain_message(exc))
            status = exc.status_code
        else:
            flash(gettext("Sent. Support will answer here."))
            return redirect(url_for("buyer_disputes.ticket", case_no=case_no), code=303)
    elif request.method == "POST":
        status = 422
    return (
        render_template(
            "buyer/ticket.html",
            case=case,
            ticket=existing,
            form=form,
            late=tickets.why_late(case),
            may_open=tickets.why_open(case) is not None,
        ),
        status,
    )
