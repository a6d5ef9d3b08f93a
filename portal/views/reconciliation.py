"""The reconciliation page (对账): each channel's days with their summary, one day's
differences with a form to resolve each, a fetch of a past day on demand, a CSV export."""

from __future__ import annotations

import csv
import io
from datetime import date

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal.domain import labels
from portal.domain.reconciliation import DifferenceKind, DifferenceState
from portal.infra.i18n import gettext
from portal.services.errors import DomainError
from portal.services.reconciliation import days, fetching, resolving
from portal.views.access import reviewer_required, staff_actor
from portal.views.forms import FetchBillForm, ResolveDifferenceForm, flash_form_errors
from portal.web import channel_name, domain_message, error_page, local_time

bp = Blueprint("reconciliation", __name__, url_prefix="/review/reconciliation")
#: characters a spreadsheet reads as the start of a formula, in a cell from a bill
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@bp.get("/")
@reviewer_required
def index() -> ResponseReturnValue:
    """Every channel's days, newest first, with what each holds open."""
    channel = request.args.get("channel", "")
    providers = fetching.providers()
    if channel not in providers:
        channel = ""
    return render_template(
        "review/reconciliation.html",
        days=days.days(channel),
        channel=channel,
        providers=providers,
        fetch_form=FetchBillForm(),
    )


@bp.post("/fetch")
@reviewer_required
def fetch() -> ResponseReturnValue:
    """Queue the fetch and match of one channel's past day."""
    form = FetchBillForm()
    if form.validate_on_submit():
        try:
            day = date.fromisoformat(form.day.data or "")
        except ValueError:
            flash(gettext("Give the bill date as YYYY-MM-DD."))
            return redirect(url_for("reconciliation.index"), code=303)
        try:
            queued = fetching.request_day(form.channel.data or "", day)
            flash(
                gettext("The bill is being fetched; reload the page in a moment.")
                if queued
                else gettext("That bill is already being fetched.")
            )
        except DomainError as exc:
            flash(domain_message(exc))
    else:
        flash_form_errors(form)
    return redirect(url_for("reconciliation.index"), code=303)


@bp.get("/<int:run_id>")
@reviewer_required
def day(run_id: int) -> ResponseReturnValue:
    """One channel's day: its summary and every difference, open ones first."""
    try:
        summary, differences = days.day(run_id, limit=days.PAGE_SIZE)
    except DomainError as exc:
        return error_page(404, domain_message(exc))
    return render_template(
        "review/reconciliation_day.html",
        day=summary,
        differences=differences,
        form=ResolveDifferenceForm(),
        OPEN=DifferenceState.OPEN,
    )


@bp.post("/differences/<int:difference_id>/resolve")
@reviewer_required
def resolve(difference_id: int) -> ResponseReturnValue:
    """Resolve one difference with a note saying how."""
    run_id = days.run_of(difference_id)
    if run_id is None:
        return error_page(404, gettext("There is no such difference."))
    form = ResolveDifferenceForm()
    if form.validate_on_submit():
        try:
            resolving.resolve(difference_id, staff_actor(), form.note.data or "")
            flash(gettext("Difference resolved."))
        except DomainError as exc:
            flash(domain_message(exc))
    else:
        flash_form_errors(form)
    return redirect(url_for("reconciliation.day", run_id=run_id), code=303)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _yuan(fen: int | None) -> str:
    return "" if fen is None else f"{fen // 100}.{fen % 100:02d}"


@bp.get("/<int:run_id>.csv")
@reviewer_required
def export(run_id: int) -> ResponseReturnValue:
    """The day's differences as CSV (UTF-8 with a byte-order mark, for spreadsheets)."""
    try:
        summary, differences = days.day(run_id)
    except DomainError as exc:
        return error_page(404, domain_message(exc))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            gettext("Payment route"),
            gettext("Bill date"),
            gettext("Difference"),
            gettext("Refund number"),
            gettext("Gateway reference"),
            gettext("Amount on the bill"),
            gettext("Our amount"),
            gettext("Time on the bill"),
            gettext("Our time"),
            gettext("State"),
            gettext("Resolved by"),
            gettext("Resolved at"),
            gettext("Note"),
        ]
    )
    for d in differences:
        writer.writerow(
            [
                _cell(channel_name(summary.run.channel)),
                summary.run.bill_date.isoformat(),
                gettext(labels.DIFFERENCE_KIND_LABELS[DifferenceKind(d.kind)]),
                _cell(d.refund_no),
                _cell(d.gateway_reference),
                _yuan(d.bill_amount_fen),
                _yuan(d.our_amount_fen),
                local_time(d.bill_at, "%Y-%m-%d %H:%M:%S"),
                local_time(d.our_at, "%Y-%m-%d %H:%M:%S"),
                gettext(labels.DIFFERENCE_STATE_LABELS[DifferenceState(d.state)]),
                _cell(d.resolved_by),
                local_time(d.resolved_at, "%Y-%m-%d %H:%M:%S"),
                _cell(d.resolution_note),
            ]
        )
    name = f"reconciliation-{summary.run.channel}-{summary.run.bill_date.isoformat()}.csv"
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
