"""Operator pages for payouts: list with gateway answers, retry, another route, batch files."""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal.domain.payout_states import HELD, PayoutState
from portal.infra.i18n import gettext
from portal.services import context
from portal.services.errors import DomainError
from portal.services.money import abnormal, batches, payout_lists, payout_ops
from portal.views.access import reviewer_required, staff_actor
from portal.views.forms import (
    EmptyForm,
    ManualRouteForm,
    RedirectForm,
    StatementForm,
    flash_form_errors,
)
from portal.web import domain_message

bp = Blueprint("payouts", __name__, url_prefix="/review/payouts")


@bp.get("/")
@reviewer_required
def index() -> ResponseReturnValue:
    """Payouts, newest first, filtered by state."""
    state = request.args.get("state", "")
    payouts = payout_lists.recent(state if state in set(PayoutState) else None)
    return render_template(
        "review/payouts.html",
        payouts=payouts,
        banks={p.channel: abnormal.banks(p.channel) for p in payouts if p.state in HELD},
        doubles=payout_lists.possible_double_payments(),
        redirect_form=RedirectForm(),
        state=state,
        states=list(PayoutState),
        now=context.now(),
        form=EmptyForm(),
        manual_form=ManualRouteForm(),
        statement_form=StatementForm(),
        desks=batches.desks(),
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


@bp.post("/<int:payout_id>/redirect")
@reviewer_required
def redirect_held(payout_id: int) -> ResponseReturnValue:
    """Send on a refund the channel holds (WeChat Pay ABNORMAL) through the channel."""
    form = RedirectForm()
    if form.validate_on_submit():
        try:
            abnormal.redirect(
                payout_id,
                staff_actor(),
                abnormal.Redirection(
                    form.to.data or "",
                    form.bank.data or "",
                    form.card_no.data or "",
                    form.holder_name.data or "",
                ),
            )
            flash(gettext("Sent on; the refund is being processed again."))
        except DomainError as exc:
            flash(domain_message(exc))
    else:
        flash_form_errors(form)
    return _back()


@bp.post("/<channel_id>/export")
@reviewer_required
def batch_export(channel_id: str) -> ResponseReturnValue:
    """Download the channel's pending payouts as a batch file in the chosen format."""
    if not EmptyForm().validate_on_submit():
        return _back()
    try:
        batch = batches.export_batch(staff_actor(), channel_id, request.form.get("format", ""))
    except DomainError as exc:
        flash(domain_message(exc))
        return _back()
    return Response(
        batch.content,
        mimetype=batch.media_type,
        headers={"Content-Disposition": f'attachment; filename="{batch.filename}"'},
    )


@bp.post("/<channel_id>/statement")
@reviewer_required
def statement_import(channel_id: str) -> ResponseReturnValue:
    """Import the channel's statement (the bank's camt.053 for bank transfers)."""
    form = StatementForm()
    if form.validate_on_submit():
        data = request.files[form.statement.name].read(10 * 1024 * 1024)
        try:
            report = batches.import_statement(staff_actor(), channel_id, data)
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
        flash(gettext("Choose the statement file."))
    return _back()
