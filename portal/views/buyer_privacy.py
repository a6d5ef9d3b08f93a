"""The buyer's own personal data, from the case page after the usual lookup: download
everything the portal holds about the orders this browser has looked up (a ZIP; each download
recorded), and ask for the personal data on the case's order to be erased (staff answer by a
deadline)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask.typing import ResponseReturnValue

from portal.infra.i18n import gettext
from portal.services import unit_of_work
from portal.services.errors import DomainError
from portal.services.privacy import export, requests
from portal.views import buyer_access, outcomes
from portal.views.buyer import _my_case
from portal.views.downloads import case_file_response
from portal.views.forms import EmptyForm
from portal.web import domain_message, local_time

bp = Blueprint("buyer_privacy", __name__)


@bp.post("/cases/<case_no>/my-data")
def my_data(case_no: str) -> ResponseReturnValue:
    """Everything held about the case's order and the other orders this browser may see (ZIP),
    the download recorded first."""
    case = _my_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return case_file_response(export.download(case, also=buyer_access.allowed_ids()))


@bp.post("/cases/<case_no>/erasure")
def ask_erasure(case_no: str) -> ResponseReturnValue:
    """Ask for the personal data on the case's order to be erased."""
    case = _my_case(case_no)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        asked = requests.ask(case)
    except DomainError as exc:
        unit_of_work.rollback()
        flash(domain_message(exc))
    else:
        flash(gettext(outcomes.ERASURE_ASKED, due=local_time(asked.due_at)))
    return redirect(url_for("buyer.case", case_no=case_no), code=303)
