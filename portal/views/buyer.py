"""Buyer pages: look up an order, apply for a refund, follow and act on the case."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import MultiDict

from portal.domain import privacy, progress, states
from portal.domain.policy import REASON_LABELS, Kind, Reason
from portal.domain.states import State
from portal.infra.i18n import gettext
from portal.models import Evidence, Order, Payout, RefundCase
from portal.services import context
from portal.services.actors import BUYER
from portal.services.audit import case_file
from portal.services.errors import DomainError
from portal.services.integration import orders
from portal.services.money import payout_lists
from portal.services.refunds import case_page as case_page_data
from portal.services.refunds import cases, tickets
from portal.services.uploads import evidence
from portal.views import buyer_access, checklist, evidence_files, inbox, throttling
from portal.views.access import may_see_case
from portal.views.arrival import arrival_texts, destinations
from portal.views.downloads import case_file_response, wording
from portal.views.form_writing import deferred
from portal.views.forms import (
    AddFilesForm,
    AnswerForm,
    ApplyForm,
    EmptyForm,
    LookupForm,
    MessageForm,
)
from portal.views.htmx_util import done, page_or_fragment
from portal.views.links import Links
from portal.views.redirects import safe_target
from portal.views.thread import thread_parts
from portal.views.upload_limits import reshow_on_too_large
from portal.web import domain_message

bp = Blueprint("buyer", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    return render_template("buyer/lookup.html", form=LookupForm())


@bp.post("/lookup")
def lookup() -> ResponseReturnValue:
    form = LookupForm()
    if form.validate_on_submit():
        throttle, address, now = throttling.lookups(), throttling.client_address(), throttling.now()
        wait = throttle.address_wait(address, now)
        if wait:
            return _lookup_page(form, throttling.address_message(wait), 429, wait)
        order_no = (form.order_no.data or "").strip()
        try:
            order = orders.lookup(order_no, form.contact.data or "", form.password.data or "")
        except DomainError as exc:
            waiting = throttle.subject_wait(order_no, now)
            throttle.failed(address, order_no, now)
            if waiting:
                return _lookup_page(form, throttling.order_message(waiting), 429, waiting)
            form.form_errors.append(domain_message(exc))
        else:
            buyer_access.grant(order.id)
            return redirect(url_for("buyer.order", order_no=order.order_no), code=303)
    return render_template("buyer/lookup.html", form=form), 422


def _lookup_page(form: LookupForm, message: str, status: int, wait: int) -> ResponseReturnValue:
    form.form_errors.append(message)
    return render_template("buyer/lookup.html", form=form), status, throttling.retry_after(wait)


@bp.get("/lang/<code>")
def language(code: str) -> ResponseReturnValue:
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(safe_target(request.args.get("next"), url_for("buyer.index")), code=303)


def _my_order(order_no: str) -> Order:
    # order numbers are unique per shop: the number names one of the orders this buyer opened
    order = orders.get_for_buyer(order_no, buyer_access.allowed_ids())
    if order is None:
        flash(gettext("Look up the order with its query password first."))
        abort(redirect(url_for("buyer.index"), code=303))
    return order


def _my_case(case_no: str) -> RefundCase:
    case = cases.get_case(case_no)
    if not buyer_access.allowed(case.order_id):
        flash(gettext("Look up the order with its query password first."))
        abort(redirect(url_for("buyer.index"), code=303))
    return case


@bp.get("/orders/<order_no>")
def order(order_no: str) -> ResponseReturnValue:
    order = _my_order(order_no)
    open_case = orders.open_case(order)
    return page_or_fragment(
        "buyer/order.html",
        "buyer/_refund_record.html",
        order=order,
        open_case=open_case,
        all_cases=orders.cases_of(order),
        refundable=orders.refundable_fen(order),
        outlook=cases.outlook(order),
        codes=orders.visible_codes(order),
        refunded=orders.refunded_in_full(order),
        **_payout_context(order),
        now=context.now(),
        form=EmptyForm(),
        reason_labels=REASON_LABELS,
    )


@bp.post("/orders/<order_no>/codes/<int:code_id>/reveal")
def reveal(order_no: str, code_id: int) -> ResponseReturnValue:
    """Reveal a card code: irreversible, so confirmed first (htmx asks in a dialog and sends
    ``confirm``; without JavaScript this answers with a page that asks)."""
    order = _my_order(order_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    if request.form.get("confirm") != "yes":
        code_id = orders.revealable_code(order, code_id).id  # asks only about its own codes
        return render_template("buyer/reveal_confirm.html", order=order, code_id=code_id)
    code = orders.reveal_code(order, code_id)
    return done(
        url_for("buyer.order", order_no=order_no) + f"#code-{code.id}",
        "buyer/_code.html",
        code=code,
        order=order,
        refunded=False,
    )


@bp.route("/orders/<order_no>/apply", methods=["GET", "POST"])
def apply(order_no: str) -> ResponseReturnValue:
    order = _my_order(order_no)
    refundable = orders.refundable_fen(order)
    form = ApplyForm()
    if form.validate_on_submit():
        try:
            with evidence.stored_uploads(request.files.getlist(form.files.name)) as stored:
                case = cases.apply_for_refund(
                    order,
                    cases.ApplyInput(
                        kind=Kind(form.kind.data),
                        reason=Reason(form.reason.data),
                        amount_fen=form.amount.fen if form.amount.fen is not None else refundable,
                        explanation=form.explanation.data or "",
                        files=tuple(stored),
                        address=throttling.client_address(),
                    ),
                )
        except DomainError as exc:
            form.form_errors.append(domain_message(exc))
            return _apply_page(
                order, form, exc.status_code, keep_files=exc.rule not in evidence.FILE_RULES
            )
        flash(gettext("Your application was submitted. Case number: %(no)s", no=case.case_no))
        return redirect(url_for("buyer.case", case_no=case.case_no), code=303)
    return _apply_page(order, form, 422 if request.method == "POST" else 200)


@reshow_on_too_large("buyer.apply")
def _apply_too_large(fields: MultiDict, message: str) -> ResponseReturnValue:
    order = _my_order((request.view_args or {})["order_no"])
    form = ApplyForm(formdata=fields)
    form.form_errors.append(message)
    return _apply_page(order, form, 413)


def _apply_page(
    order: Order, form: ApplyForm, status: int, keep_files: bool = False
) -> tuple[str, int]:
    return (
        render_template(
            "buyer/apply.html",
            order=order,
            form=form,
            refundable=orders.refundable_fen(order),
            open_case=orders.open_case(order),
            checklists=checklist.for_apply(order),
            reason_labels=REASON_LABELS,
            keep_files=keep_files,
            max_file_bytes=evidence.MAX_FILE_BYTES,
            max_request_bytes=current_app.config["MAX_CONTENT_LENGTH"],
            max_side=evidence.MAX_IMAGE_SIDE,
            max_pixels=evidence.MAX_REQUEST_PIXELS,
        ),
        status,
    )


@bp.get("/cases/<case_no>")
def case(case_no: str) -> ResponseReturnValue:
    page = case_page_data.load(case_no, header=inbox.unread_counting())
    if not buyer_access.allowed(page.case.order_id):
        flash(gettext("Look up the order with its query password first."))
        return redirect(url_for("buyer.index"), code=303)
    inbox.counted(page.header)
    return page_or_fragment("buyer/case.html", "buyer/_case_status.html", **_page_context(page))


def case_page(case: RefundCase, error: str | None = None, status: int = 200) -> ResponseReturnValue:
    """The case page with an error message at the top (for actions that failed)."""
    ctx = _case_context(case)
    ctx["error"] = error
    return page_or_fragment("buyer/case.html", "buyer/_case_status.html", **ctx), status


def _case_context(case: RefundCase, answer_form: AnswerForm | None = None) -> dict:
    """The case page's context, read afresh (after an action on ``case``)."""
    return _page_context(case_page_data.load(case.case_no), answer_form)


def _page_context(page: case_page_data.CasePage, answer_form: AnswerForm | None = None) -> dict:
    case = page.case
    return {
        **thread_parts(case, "buyer", page.thread, page.offers, page.open_offer),
        # the thread's forms show in some states only
        "urls": Links(
            message=("buyer_disputes.message", {"case_no": case.case_no}),
            offer=("buyer_disputes.offer", {"case_no": case.case_no}),
            accept=("buyer_disputes.accept", {"case_no": case.case_no}),
        ),
        "late": page.late,
        "now": context.now(),
        "has_ticket": page.has_ticket,
        "may_open_ticket": tickets.open_reason(case, page.late) is not None,
        # the forms are built if the page shows them (it shows each in some states only)
        "shop_form": deferred(MessageForm, prefix="shop"),
        "ticket_form": deferred(MessageForm, prefix="ticket"),
        "contact_forms": True,  # the buyer writes to the shop or support, not to "everyone"
        "case": case,
        "order": page.order,
        "events": page.events,
        "form": deferred(EmptyForm),
        "file_url": url_for("buyer.download_file", case_no=case.case_no),
        "pdf_url": url_for("buyer.download_pdf", case_no=case.case_no),
        "erasure": privacy.request_status(page.events),
        "answer_form": answer_form or deferred(AnswerForm),
        "files_form": deferred(AddFilesForm, prefix="add"),
        "reason_labels": REASON_LABELS,
        "can_withdraw": State.WITHDRAWN in states.targets(State(case.state), states.Role.BUYER),
        "needs_info": case.state == State.NEEDS_INFO,
        "progress": progress.steps(State(case.state)),
        **_payouts_context(page.payouts),
    }


def _payout_context(order: Order) -> dict:
    """The order's refund record: payouts, where each goes and when it should arrive."""
    return _payouts_context(payout_lists.of_order(order.id))


def _payouts_context(payouts: list[Payout]) -> dict:
    return {
        "payouts": payouts,
        "arrival": arrival_texts(payouts),
        "destination": destinations(payouts),
    }


@bp.post("/cases/<case_no>/withdraw")
def withdraw(case_no: str) -> ResponseReturnValue:
    case = _my_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    cases.withdraw(case)
    flash(gettext("Your application was withdrawn."))
    return done(
        url_for("buyer.case", case_no=case_no), "buyer/_case_status.html", **_case_context(case)
    )


@bp.post("/cases/<case_no>/answer")
def answer(case_no: str) -> ResponseReturnValue:
    case = _my_case(case_no)
    form = AnswerForm()
    if form.validate_on_submit():
        try:
            uploads = request.files.getlist(form.files.name)
            with evidence.stored_uploads(uploads, evidence.room_left(case)) as stored:
                cases.answer_info_request(case, form.text.data or "", stored)
        except DomainError as exc:
            form.form_errors.append(domain_message(exc))
        else:
            flash(gettext("Thank you. Your case is back with the reviewer."))
            return done(
                url_for("buyer.case", case_no=case_no),
                "buyer/_case_status.html",
                **_case_context(case),
            )
    return page_or_fragment(
        "buyer/case.html", "buyer/_case_status.html", **_case_context(case, form)
    ), 422


def _visible_evidence(evidence_id: int) -> Evidence:
    row = evidence.find(evidence_id)
    if row is None or not may_see_case(row.case_id):
        abort(404)
    return row


def _private_file(resp: Response) -> Response:
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


@bp.get("/evidence/<int:evidence_id>")
def evidence_file(evidence_id: int) -> ResponseReturnValue:
    """An evidence file, to the parties of its case only."""
    return _private_file(evidence_files.send(_visible_evidence(evidence_id)))


@bp.get("/evidence/<int:evidence_id>/thumb")
def evidence_thumb(evidence_id: int) -> ResponseReturnValue:
    """An image's small preview, to the parties of its case only."""
    return _private_file(evidence_files.send(_visible_evidence(evidence_id), thumbnail=True))


@bp.post("/cases/<case_no>/file")
def download_file(case_no: str) -> ResponseReturnValue:
    """The buyer's case file (ZIP), after the lookup; the download recorded first."""
    case = _my_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(case_file.download(case, BUYER, case_file.BUYER, wording()))


@bp.post("/cases/<case_no>/file.pdf")
def download_pdf(case_no: str) -> ResponseReturnValue:
    """The buyer's case file as a PDF, after the lookup; the download recorded first."""
    case = _my_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(case_file.download_pdf(case, BUYER, case_file.BUYER, wording()))
