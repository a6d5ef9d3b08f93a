"""The inbox: each party's notices, and the unread count in every page's header."""

from __future__ import annotations

from flask import Blueprint, Flask, g, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from portal.infra.i18n import gettext
from portal.models import Notice
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
    viewer = _viewer()
    rows = notices.for_viewer(*viewer)
    form = EmptyForm()
    if form.validate_on_submit():
        if rows:
            notices.mark_all_read(*viewer, up_to_id=rows[0].id)
        return redirect(url_for("inbox.index"), code=303)
    return render_template("inbox.html", rows=[(n, worded(n)) for n in rows], form=form)


def worded(notice: Notice) -> str:
    """The notice in the reader's language, its parameters filled in; a text whose stored
    parameters do not fit it (a catalogue changed since) is shown as written, unfilled."""
    text = gettext(notice.message)
    try:
        return text % notice.params if "%(" in text else text
    except (KeyError, TypeError, ValueError):
        return text


_COUNTED = "portal_unread"  # on ``g``: the count a page already read with its own statement


def unread_counting() -> notices.Counting | None:
    """How to count the viewer's unread notices, for a page that reads the count with its own
    first statement and hands it back with :func:`counted` (None: nothing to count)."""
    return notices.unread_counting(*_viewer())


def counted(unread: int | None) -> None:
    """The unread count a page read (from :func:`unread_counting`), shown in the header."""
    setattr(g, _COUNTED, unread or 0)


def shown(unread: int) -> str:
    """The header's count: empty for none, "99+" past what it counts."""
    if unread <= 0:
        return ""
    return f"{notices.UNREAD_SHOWN_MAX}+" if unread > notices.UNREAD_SHOWN_MAX else str(unread)


def install(app: Flask) -> None:
    """Put the unread count in every page's template context."""

    @app.context_processor
    def _unread() -> dict[str, str]:
        if hasattr(g, _COUNTED):
            return {"unread": shown(getattr(g, _COUNTED))}
        viewer = _viewer()
        if not viewer[0] and viewer[1] is None and not viewer[2]:
            return {"unread": ""}
        return {"unread": shown(notices.unread_count(*viewer))}
