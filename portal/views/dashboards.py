"""Dashboards: the platform's (supervisors, filterable by shop) and each shop's own."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.services.reports import dashboard
from portal.views.access import merchant_required, supervisor_required

bp = Blueprint("dashboards", __name__)


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    """A whole-number query parameter within bounds, else ``default`` (never an error page)."""
    raw = request.args.get(name, "")
    if not raw.isdigit() or len(raw) > 9:
        return default
    value = int(raw)
    return value if low <= value <= high else default


@bp.get("/review/dashboard")
@supervisor_required
def platform() -> ResponseReturnValue:
    """The platform's figures, or one shop's when ``shop`` names one."""
    shop = _int_arg("shop", None, 1, 2**31 - 1)
    weeks = _int_arg("weeks", dashboard.DEFAULT_WEEKS, 1, dashboard.MAX_WEEKS)
    return render_template(
        "review/dashboard.html",
        d=dashboard.build(shop, weeks or dashboard.DEFAULT_WEEKS),
        shops=dashboard.shops(),
        weeks=weeks,
    )


@bp.get("/merchant/dashboard")
@merchant_required
def shop() -> ResponseReturnValue:
    """The merchant's own shop's figures."""
    weeks = _int_arg("weeks", dashboard.DEFAULT_WEEKS, 1, dashboard.MAX_WEEKS)
    return render_template(
        "merchant/dashboard.html",
        d=dashboard.build(current_user.merchant_id, weeks or dashboard.DEFAULT_WEEKS),
        weeks=weeks,
    )
