"""Operator pages for payouts: list with gateway answers, retry, another route, bank batches."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext

from portal.domain.payout_states import PayoutState
from portal.plugins.startup import channels
from portal.services import context
from portal.services.errors import DomainError
from portal.services.money import bank_batches, payout_lists, payout_ops
from portal.views.access import reviewer_required, staff_actor
from portal.views.forms import EmptyForm, ManualRouteForm, StatementForm
from portal.web import domain_message

bp = Blueprint("payouts", __name__, url_prefix="/review/payouts")


@bp.get("/")
@reviewer_required
def index() -> ResponseReturnValue:
    """Payouts, newest first, filtered by state."""
    state = request.args.get("state", "")
    return render_template(
        "review/payouts.html",
        payouts=payout_lists.recent(state if state in set(PayoutState) else None),
        state=state,
        states=list(PayoutState),
        now=context.now(),
        form=EmptyForm(),
        manual_form=ManualRouteForm(),
        statement_form=StatementForm(),
        waiting=len(bank_batches.exportable()) if "bank" in channels() else None,
        formats=channels().get("bank").batch_formats() if "bank" in channels() else (),
    )


def _back() -> ResponseReturnValue:
    return redirect(url_for("payouts.index"), code=303)


@bp.post("/<int:payout_id>/retry")
@reviewer_required
def retry(payout_id: int) -> ResponseReturnValue:
    """Retry a failed payout with its same idempotency key."""
    if EmptyForm().validate_on_submit():
        try:
            payout_ops.retry(payout_id, staff_actor())
            flash(gettext("Retrying with the same key."))
        except DomainError as exc:
            flash(domain_message(exc))
    return _back()


@bp.post("/<int:payout_id>/manual")
@reviewer_required
def manual(payout_id: int) -> ResponseReturnValue:
    """Record a refund paid by another route (an explicit, recorded decision)."""
    form = ManualRouteForm()
    if form.validate_on_submit():
        try:
            payout_ops.pay_another_way(
                payout_id, staff_actor(), form.route.data or "", form.note.data or ""
            )
            flash(gettext("Recorded as paid by another route."))
        except DomainError as exc:
            flash(domain_message(exc))
    else:
        flash(gettext("Name the route and explain the decision."))
    return _back()


@bp.post("/bank/export")
@reviewer_required
def bank_export() -> ResponseReturnValue:
    """Download the pending bank payouts as a batch file (CSV or pain.001)."""
    if not EmptyForm().validate_on_submit():
        return _back()
    try:
        batch = bank_batches.export_batch(staff_actor(), request.form.get("format", "csv"))
    except DomainError as exc:
        flash(domain_message(exc))
        return _back()
    mimetype = "application/xml" if batch.filename.endswith(".xml") else "text/csv"
    return Response(
        batch.content,
        mimetype=mimetype,
        headers={"Content-Disposition": f'attachment; filename="{batch.filename}"'},
    )


@bp.post("/bank/statement")
@reviewer_required
def bank_statement() -> ResponseReturnValue:
    """Import the bank's camt.053 statement."""
    form = StatementForm()
    if form.validate_on_submit():
        data = request.files[form.statement.name].read(10 * 1024 * 1024)
        try:
            report = bank_batches.import_statement(staff_actor(), data)
            flash(
                gettext(
                    "Statement imported: %(a)s applied, %(d)s already known, %(u)s unmatched.",
                    a=report.applied,
                    d=report.duplicates,
                    u=len(report.unmatched),
                )
            )
        except DomainError as exc:
            flash(domain_message(exc))
    else:
        flash(gettext("Choose the statement file (camt.053 XML)."))
    return _back()
