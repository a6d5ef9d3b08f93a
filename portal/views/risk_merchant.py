"""The merchant's fast-lane page: the shop's limit, and opting out of (or back into) it."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.infra.i18n import gettext
from portal.services.risk import fast_lane
from portal.views.access import merchant_required, staff_actor
from portal.views.forms import EmptyForm

bp = Blueprint("risk_merchant", __name__, url_prefix="/merchant/fast-lane")


@bp.get("/")
@merchant_required
def page() -> ResponseReturnValue:
    """The shop's fast lane as it applies."""
    lane = fast_lane.for_shop(current_user.merchant_id)
    return render_template("merchant/fast_lane.html", lane=lane, form=EmptyForm())


@bp.post("/<any(out, in):choice>")
@merchant_required
def choose(choice: str) -> ResponseReturnValue:
    """Opt the shop out of the fast lane, or back in."""
    if EmptyForm().validate_on_submit():
        fast_lane.set_opt_out(current_user.merchant_id, choice == "out", staff_actor())
        flash(
            gettext("Your shop is out of the fast lane.")
            if choice == "out"
            else gettext("Your shop is in the fast lane again.")
        )
    return redirect(url_for("risk_merchant.page"), code=303)
