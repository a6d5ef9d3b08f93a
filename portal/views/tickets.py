"""Staff side of support tickets: the open list and answering in the thread."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.infra.i18n import gettext
from portal.services.errors import DomainError
from portal.services.refunds import tickets
from portal.views.access import reviewer_required, staff_actor
from portal.views.forms import MessageForm
from portal.web import domain_message

bp = Blueprint("tickets", __name__, url_prefix="/review/tickets")


@bp.get("/")
@reviewer_required
def index() -> ResponseReturnValue:
    """Tickets waiting for an answer, oldest first."""
    return render_template("review/tickets.html", tickets=tickets.open_tickets())


@bp.route("/<int:ticket_id>", methods=["GET", "POST"])
@reviewer_required
def show(ticket_id: int) -> ResponseReturnValue:
    """One ticket's thread, with the order and case, and the answer form."""
    ticket = tickets.find_ticket(ticket_id)
    if ticket is None:
        abort(404)
    form = MessageForm(prefix="reply")
    status = 200
    if form.validate_on_submit():
        try:
            tickets.reply(ticket.id, staff_actor(), form.text.data or "")
        except DomainError as exc:
            form.form_errors.append(domain_message(exc))
            status = exc.status_code
        else:
            flash(gettext("Answer sent."))
            return redirect(url_for("tickets.show", ticket_id=ticket_id), code=303)
    return render_template("review/ticket.html", ticket=ticket, form=form), status
