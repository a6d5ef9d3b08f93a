"""Staff pages for personal data: buyers' erasure requests by deadline (done or refused with
a reason) and a supervisor's legal hold on a case (set and lifted with a reason)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.infra.i18n import gettext
from portal.services import context, unit_of_work
from portal.services.errors import DomainError
from portal.services.privacy import holds, requests
from portal.services.refunds import cases
from portal.views import outcomes
from portal.views.access import reviewer_required, staff_actor, supervisor_required
from portal.views.forms import EmptyForm, HoldForm, RefuseErasureForm
from portal.web import domain_message

bp = Blueprint("privacy_staff", __name__, url_prefix="/review")


def _page(
    error: str | None = None, refuse: RefuseErasureForm | None = None, status: int = 200
) -> ResponseReturnValue:
    waiting, answered = requests.listing()
    return render_template(
        "review/privacy.html",
        waiting=waiting,
        answered=answered,
        now=context.now(),
        form=EmptyForm(),
        refuse_form=refuse or RefuseErasureForm(prefix="refuse"),
        error=error,
    ), status


@bp.get("/privacy")
@reviewer_required
def index() -> ResponseReturnValue:
    """Open erasure requests, nearest deadline first, with what holds each order back."""
    return _page()


@bp.post("/privacy/<int:request_id>/done")
@reviewer_required
def done(request_id: int) -> ResponseReturnValue:
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        requests.done(request_id, staff_actor())
    except DomainError as exc:
        unit_of_work.rollback()
        return _page(domain_message(exc), status=exc.status_code)
    flash(gettext(outcomes.ERASURE_DONE))
    return redirect(url_for("privacy_staff.index"), code=303)


@bp.post("/privacy/<int:request_id>/refuse")
@reviewer_required
def refuse(request_id: int) -> ResponseReturnValue:
    form = RefuseErasureForm(prefix="refuse")
    if not form.validate_on_submit():
        return _page(refuse=form, status=422)
    try:
        requests.refuse(request_id, staff_actor(), form.reason.data or "")
    except DomainError as exc:
        unit_of_work.rollback()
        return _page(domain_message(exc), status=exc.status_code)
    flash(gettext(outcomes.ERASURE_REFUSED))
    return redirect(url_for("privacy_staff.index"), code=303)


def _hold_action(case_no: str, lift: bool) -> ResponseReturnValue:
    case = cases.get_case(case_no)
    form = HoldForm(prefix="hold")
    if form.validate_on_submit():
        try:
            if lift:
                holds.lift_hold(case, staff_actor(), form.reason.data or "")
            else:
                holds.set_hold(case, staff_actor(), form.reason.data or "")
        except DomainError as exc:
            unit_of_work.rollback()
            flash(domain_message(exc))
        else:
            flash(gettext(outcomes.HOLD_LIFTED if lift else outcomes.HOLD_SET))
    else:
        flash(gettext("Give the reason for the hold."))
    return redirect(url_for("review.case", case_no=case_no), code=303)


@bp.post("/cases/<case_no>/hold")
@supervisor_required
def set_hold(case_no: str) -> ResponseReturnValue:
    """A supervisor holds the case's personal data from erasure, with the reason."""
    return _hold_action(case_no, lift=False)


@bp.post("/cases/<case_no>/hold/lift")
@supervisor_required
def lift_hold(case_no: str) -> ResponseReturnValue:
    """A supervisor lifts the case's legal hold, with the reason."""
    return _hold_action(case_no, lift=True)
