"""Staff login and logout (reviewers, supervisors, merchant staff), and the staff list where a
supervisor signs a login out everywhere."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required

from portal.extensions import login_manager
from portal.infra.i18n import gettext
from portal.models import User
from portal.services.accounts import staff
from portal.services.errors import DomainError
from portal.views import staff_session, throttling
from portal.views.access import supervisor_required
from portal.views.forms import EmptyForm, LoginForm, PasswordForm
from portal.views.redirects import safe_target
from portal.web import domain_message

bp = Blueprint("auth", __name__, url_prefix="/staff")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return staff_session.load(user_id)


def _home(user: User) -> str:
    return url_for("review.queue" if user.role != "merchant" else "merchant.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        throttle, address, now = throttling.logins(), throttling.client_address(), throttling.now()
        wait = throttle.address_wait(address, now)
        if wait:
            return _login_page(form, throttling.address_message(wait), 429, wait)
        username = (form.username.data or "").strip()
        user = staff.authenticate(username, form.password.data or "")
        if user is not None:
            staff_session.start(user)
            return redirect(safe_target(request.args.get("next"), _home(user)), code=303)
        waiting = throttle.subject_wait(username.lower(), now)
        throttle.failed(address, username.lower(), now)
        if waiting:
            return _login_page(form, throttling.login_message(waiting), 429, waiting)
        form.form_errors.append(gettext("Wrong username or password."))
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form)


def _login_page(form: LoginForm, message: str, status: int, wait: int) -> ResponseReturnValue:
    form.form_errors.append(message)
    return render_template("auth/login.html", form=form), status, throttling.retry_after(wait)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """End this login's sessions everywhere (every copy of the cookie), then forget it here."""
    if EmptyForm().validate_on_submit():
        if current_user.is_authenticated:
            staff.end_sessions(current_user.id)
        staff_session.forget()
    return redirect(url_for("auth.login"), code=303)


@bp.get("/users")
@supervisor_required
def users() -> ResponseReturnValue:
    """Every staff login, each with a "sign out everywhere" button."""
    return render_template("auth/users.html", users=staff.all_staff(), form=EmptyForm())


@bp.post("/users/<int:user_id>/sign-out")
@supervisor_required
def sign_out_everywhere(user_id: int) -> ResponseReturnValue:
    """End every session of one login (a lost laptop, a leaving colleague)."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = staff.get_staff(user_id)
    staff.end_sessions(user.id)
    if user.id == current_user.id:
        staff_session.forget()
        return redirect(url_for("auth.login"), code=303)
    flash(gettext("%(name)s is signed out on every device.", name=user.display_name))
    return redirect(url_for("auth.users"), code=303)


@bp.route("/account", methods=["GET", "POST"])
@login_required
def account() -> ResponseReturnValue:
    """A staff member changes their own password; their other sessions end."""
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            staff.change_own_password(current_user.id, form.current.data or "", form.new.data or "")
        except DomainError as exc:
            form.form_errors.append(domain_message(exc))
        else:
            staff_session.start(staff.get_staff(current_user.id))
            flash(gettext("Password changed. Your other sessions have ended."))
            return redirect(url_for("auth.account"), code=303)
        return render_template("auth/account.html", form=form), 422
    return render_template("auth/account.html", form=form)
