"""Merchant pages: cases on the shop's own orders, answering them, balances and their history."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, abort, flash, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from flask_wtf import FlaskForm

from portal.domain import ledger as accounts
from portal.domain.policy import REASON_LABELS, Reason
from portal.domain.states import Role
from portal.infra.i18n import gettext
from portal.models import RefundCase
from portal.services import context, unit_of_work
from portal.services.audit import case_file
from portal.services.errors import DomainError
from portal.services.money import balances as money_balances
from portal.services.money import ledger
from portal.services.refunds import cases, contacts, disputes, queues
from portal.services.refunds.timeline import timeline
from portal.views import case_filters, outcomes
from portal.views.access import merchant_required, staff_actor
from portal.views.downloads import case_file_response, wording
from portal.views.forms import (
    EmptyForm,
    MessageForm,
    OfferForm,
    ReasonForm,
    RevealContactForm,
)
from portal.views.htmx_util import done, is_htmx, page_or_fragment
from portal.views.thread import thread_context
from portal.web import domain_message

bp = Blueprint("merchant", __name__, url_prefix="/merchant")


@bp.get("/")
@merchant_required
def index() -> ResponseReturnValue:
    """Open cases on this shop's orders, the nearest deadline first, a page at a time (the rows
    alone for htmx). Only this shop's: no parameter or cursor reaches another shop's cases."""
    asked = case_filters.read(request.args, case_filters.MERCHANT_PARAMS)
    listing = queues.merchant_cases(current_user.merchant_id, asked.filter, asked.cursor)
    ctx = {
        "listing": listing,
        "args": asked.args,
        "now": context.now(),
        "reason_labels": REASON_LABELS,
        "url": case_filters.page_url("merchant.index", asked.args),
    }
    if is_htmx():
        return render_template("merchant/_case_rows.html", **ctx)
    return render_template(
        "merchant/index.html",
        **ctx,
        states=sorted(queues.SHOP_STATES),
        reasons=list(Reason),
        balances=ledger.merchant_balances(current_user.merchant_id),
    )


def _own_case(case_no: str) -> RefundCase:
    case = cases.get_case(case_no)
    if case.merchant_id != current_user.merchant_id:
        abort(404)  # another shop's case does not exist for this merchant
    return case


def _context(
    case: RefundCase,
    error: str | None = None,
    refuse_form: ReasonForm | None = None,
    reveal_form: RevealContactForm | None = None,
    contact_shown: str | None = None,
) -> dict:
    return {
        "reveal_form": reveal_form or RevealContactForm(prefix="reveal"),
        "contact_shown": contact_shown,
        "reveal_url": url_for("merchant.reveal_contact", case_no=case.case_no),
        "file_url": url_for("merchant.download_file", case_no=case.case_no),
        "pdf_url": url_for("merchant.download_pdf", case_no=case.case_no),
        "case": case,
        "order": case.order,
        "events": timeline(case),
        "now": context.now(),
        "reason_labels": REASON_LABELS,
        "form": EmptyForm(),
        "refuse_form": refuse_form or ReasonForm(prefix="refuse"),
        "error": error,
        "urls": {
            "message": url_for("merchant.message", case_no=case.case_no),
            "offer": url_for("merchant.offer", case_no=case.case_no),
            "accept": url_for("merchant.accept", case_no=case.case_no),
        },
        **thread_context(case, str(Role.MERCHANT)),
    }


@bp.get("/cases/<case_no>")
@merchant_required
def case(case_no: str) -> ResponseReturnValue:
    """One case of this shop, with its thread and the merchant's answers."""
    return page_or_fragment(
        "merchant/case.html", "merchant/_panel.html", **_context(_own_case(case_no))
    )


def _act(case_no: str, form: FlaskForm, action: Callable, said: str) -> ResponseReturnValue:
    case = _own_case(case_no)
    if not form.validate_on_submit():
        return page_or_fragment(
            "merchant/case.html",
            "merchant/_panel.html",
            **_context(case, gettext("Check the form.")),
        ), 422
    try:
        action(case, form)
    except DomainError as exc:
        unit_of_work.rollback()
        ctx = _context(case, domain_message(exc))
        return page_or_fragment(
            "merchant/case.html", "merchant/_panel.html", **ctx
        ), exc.status_code
    flash(gettext(said))
    return done(
        url_for("merchant.case", case_no=case_no),
        "merchant/_panel.html",
        **_context(cases.get_case(case_no)),
    )


@bp.post("/cases/<case_no>/agree")
@merchant_required
def agree(case_no: str) -> ResponseReturnValue:
    """Agree to the full refund."""
    return _act(
        case_no,
        EmptyForm(),
        lambda c, f: disputes.merchant_agree(c, staff_actor()),
        outcomes.AGREED,
    )


@bp.post("/cases/<case_no>/refuse")
@merchant_required
def refuse(case_no: str) -> ResponseReturnValue:
    """Refuse with a reason (the platform opens a negotiation)."""
    return _act(
        case_no,
        ReasonForm(prefix="refuse"),
        lambda c, f: disputes.merchant_refuse(c, staff_actor(), f.note.data),
        outcomes.REFUSED,
    )


@bp.post("/cases/<case_no>/offer")
@merchant_required
def offer(case_no: str) -> ResponseReturnValue:
    """Offer a partial refund."""
    return _act(
        case_no,
        OfferForm(prefix="offer"),
        lambda c, f: disputes.make_offer(c, staff_actor(), f.amount.fen, f.note.data or ""),
        outcomes.OFFER_SENT,
    )


@bp.post("/cases/<case_no>/message")
@merchant_required
def message(case_no: str) -> ResponseReturnValue:
    """Write in the negotiation thread."""
    return _act(
        case_no,
        MessageForm(prefix="msg"),
        lambda c, f: disputes.post_message(c, staff_actor(), f.text.data),
        outcomes.MESSAGE_SENT,
    )


@bp.post("/cases/<case_no>/accept")
@merchant_required
def accept(case_no: str) -> ResponseReturnValue:
    """Accept the buyer's (or platform's) offer."""
    offer_id = request.form.get("offer_id", type=int) or 0
    return _act(
        case_no,
        EmptyForm(prefix="accept"),
        lambda c, f: disputes.accept_offer(c, staff_actor(), offer_id),
        outcomes.OFFER_ACCEPTED,
    )


@bp.get("/balances")
@merchant_required
def balances() -> ResponseReturnValue:
    """Available, frozen (with the case that froze each part) and refunded, and their history."""
    mid = current_user.merchant_id
    freezes = money_balances.open_freezes(mid)
    return render_template(
        "merchant/balances.html",
        balances=ledger.merchant_balances(mid),
        history=money_balances.history(mid),
        freezes=freezes,
        case_nos=money_balances.case_numbers(freezes),
        available_account=accounts.available(mid),
    )


@bp.post("/cases/<case_no>/contact")
@merchant_required
def reveal_contact(case_no: str) -> ResponseReturnValue:
    """The buyer's whole contact on this shop's case, on this page only, once the request and
    its reason are recorded; the masked one (422) without a reason."""
    case = _own_case(case_no)
    form = RevealContactForm(prefix="reveal")
    if not form.validate_on_submit():
        ctx = _context(case, reveal_form=form)
        return page_or_fragment("merchant/case.html", "merchant/_panel.html", **ctx), 422
    try:
        shown = contacts.reveal(case, staff_actor(), form.why.data or "")
    except DomainError as exc:
        ctx = _context(case, domain_message(exc), reveal_form=form)
        return page_or_fragment(
            "merchant/case.html", "merchant/_panel.html", **ctx
        ), exc.status_code
    ctx = _context(cases.get_case(case_no), contact_shown=shown)
    return page_or_fragment("merchant/case.html", "merchant/_panel.html", **ctx)


@bp.post("/cases/<case_no>/file")
@merchant_required
def download_file(case_no: str) -> ResponseReturnValue:
    """The case file (ZIP) of this shop's case, the download recorded first."""
    case = _own_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(
        case_file.download(case, staff_actor(), case_file.MERCHANT, wording())
    )


@bp.post("/cases/<case_no>/file.pdf")
@merchant_required
def download_pdf(case_no: str) -> ResponseReturnValue:
    """The case file PDF of this shop's case, the download recorded first."""
    case = _own_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(
        case_file.download_pdf(case, staff_actor(), case_file.MERCHANT, wording())
    )
