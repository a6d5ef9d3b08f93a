"""Risk pages for supervisors: the rules (thresholds per signal), the watch list and each
shop's fast-lane limit. Each change goes through a service that records who made it."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal.domain.risk import SignalCode
from portal.infra.i18n import gettext
from portal.services.errors import DomainError
from portal.services.risk import fast_lane, merchant_watch, rules, watch_list
from portal.views.access import staff_actor, supervisor_required
from portal.views.forms import EmptyForm
from portal.views.risk_forms import LaneLimitForm, RuleForm, WatchForm
from portal.web import domain_message

bp = Blueprint("risk_admin", __name__, url_prefix="/review/risk")


def _rules_page(status: int = 200, bad: str = "", form: RuleForm | None = None) -> Any:
    rows = rules.listing()
    forms = {}
    for row in rows:
        if bad == str(row.signal) and form is not None:
            forms[str(row.signal)] = form
        else:
            forms[str(row.signal)] = RuleForm(
                prefix=str(row.signal),
                formdata=None,
                data={"review_at": row.rule.review_at, "high_at": row.rule.high_at},
            )
    return render_template("review/risk_rules.html", rows=rows, forms=forms), status


@bp.get("/")
@supervisor_required
def rules_page() -> ResponseReturnValue:
    """The rules in force, each with its default and who changed it last."""
    return _rules_page()


@bp.post("/rules/<signal>")
@supervisor_required
def change_rule(signal: str) -> ResponseReturnValue:
    """Change one signal's thresholds."""
    if signal not in {str(c) for c in SignalCode}:
        return _rules_page(404)
    form = RuleForm(prefix=signal)
    if not form.validate_on_submit():
        return _rules_page(422, signal, form)
    try:
        rules.change(signal, form.review_at.data, form.high_at.data, staff_actor())
    except DomainError as exc:
        form.form_errors.append(domain_message(exc))
        return _rules_page(422, signal, form)
    flash(gettext("Risk rule saved."))
    return redirect(url_for("risk_admin.rules_page"), code=303)


def _watch_page(form: WatchForm | None = None, status: int = 200) -> Any:
    return (
        render_template(
            "review/risk_watch.html",
            entries=watch_list.live(),
            form=form or WatchForm(),
            remove_form=EmptyForm(),
        ),
        status,
    )


@bp.get("/watch")
@supervisor_required
def watch() -> ResponseReturnValue:
    """The live watch list and the form to add to it."""
    return _watch_page()


@bp.post("/watch")
@supervisor_required
def watch_add() -> ResponseReturnValue:
    """Put a contact or payer id on the watch list."""
    form = WatchForm()
    if not form.validate_on_submit():
        return _watch_page(form, 422)
    try:
        watch_list.add(
            form.kind.data or "",
            form.value.data or "",
            form.days.data or 0,
            form.reason.data or "",
            staff_actor(),
        )
    except DomainError as exc:
        form.form_errors.append(domain_message(exc))
        return _watch_page(form, exc.status_code)
    flash(gettext("Added to the watch list."))
    return redirect(url_for("risk_admin.watch"), code=303)


@bp.post("/watch/<int:entry_id>/remove")
@supervisor_required
def watch_remove(entry_id: int) -> ResponseReturnValue:
    """Take an entry off the watch list."""
    if EmptyForm().validate_on_submit():
        try:
            watch_list.remove(entry_id, staff_actor())
            flash(gettext("Removed from the watch list."))
        except DomainError as exc:
            flash(domain_message(exc))
    return redirect(url_for("risk_admin.watch"), code=303)


def _lanes_page(
    bad: int | None = None, form: LaneLimitForm | None = None, status: int = 200
) -> Any:
    shops = fast_lane.listing()
    forms = {}
    for shop in shops:
        if bad == shop.merchant_id and form is not None:
            forms[shop.merchant_id] = form
        else:
            forms[shop.merchant_id] = LaneLimitForm(prefix=f"s{shop.merchant_id}", formdata=None)
    return (
        render_template(
            "review/risk_lanes.html",
            shops=shops,
            forms=forms,
            default_fen=fast_lane.default_limit(),
        ),
        status,
    )


@bp.get("/fast-lane")
@supervisor_required
def lanes() -> ResponseReturnValue:
    """Each shop's fast lane: its limit and whether the merchant opted out."""
    return _lanes_page()


@bp.post("/fast-lane/<int:merchant_id>")
@supervisor_required
def lane_limit(merchant_id: int) -> ResponseReturnValue:
    """Set one shop's fast-lane limit."""
    form = LaneLimitForm(prefix=f"s{merchant_id}")
    if not form.validate_on_submit():
        return _lanes_page(merchant_id, form, 422)
    try:
        fast_lane.set_limit(merchant_id, form.limit.fen, staff_actor())
    except DomainError as exc:
        form.form_errors.append(domain_message(exc))
        return _lanes_page(merchant_id, form, exc.status_code)
    flash(gettext("Fast-lane limit saved."))
    return redirect(url_for("risk_admin.lanes"), code=303)


@bp.get("/shops")
@supervisor_required
def shops() -> ResponseReturnValue:
    """Shops whose refunds, refusals, overturned refusals or late answers are far above the
    other shops' over a period (``days``, 30 by default)."""
    raw = request.args.get("days", "")
    days = int(raw) if raw.isdigit() and len(raw) <= 3 else merchant_watch.DEFAULT_DAYS
    return render_template(
        "review/risk_shops.html",
        w=merchant_watch.watch(days),
        thresholds=merchant_watch.THRESHOLDS,
    )
