"""The inbox: each party's notices, and the unread count in every page's header."""

from __future__ import annotations

from flask import Blueprint, Flask, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.services.messaging import notices
from portal.views import buyer_access
from portal.views.forms import EmptyForm

bp = Blueprint("inbox", __name__)


def _viewer() -> tuple[list[int], int | None, bool]:
    order_ids = buyer_access.allowed_ids()
    merchant_id = staff = None
    if current_user.is_authenticated:
        merchant_id = current_user.merchant_id if current_user.role == "merchant" else None
        staff = current_user.role in ("reviewer", "supervisor")
    return order_ids, merchant_id, bool(staff)


@bp.route("/inbox", methods=["GET", "POST"])
def index() -> ResponseReturnValue:
    """The viewer's notices, newest first; POST marks them read."""
    rows = notices.for_viewer(*_viewer())
    form = EmptyForm()
    if form.validate_on_submit():
        notices.mark_read([n.id for n in rows])
        return redirect(url_for("inbox.index"), code=303)
    return render_template("inbox.html", rows=rows, form=form)


_COUNTED = "portal_unread"  # on ``g``: the count a page already read with its own statement


def unread_counting() -> notices.Counting | None:
    """How to count the viewer's unread notices, for a page that reads the count with its own
    first statement and hands it back with :func:`counted` (None: nothing to count)."""
    return notices.unread_counting(*_viewer())


def counted(unread: int | None) -> None:
    """The unread count a page read (from :func:`unread_counting`), shown in the header."""
    setattr(g, _COUNTED, unread or 0)


def install(app: Flask) -> None:
    """Put the unread count in every page's template context."""

    @app.context_processor
    def _unread() -> dict[str, int]:
        if hasattr(g, _COUNTED):
            return {"unread": getattr(g, _COUNTED)}
        viewer = _viewer()
        if not viewer[0] and viewer[1] is None and not viewer[2]:
            return {"unread": 0}
        return {"unread": notices.unread_count(*viewer)}
