"""Staff login and logout (reviewers, supervisors, merchant staff)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext
from flask_login import login_user, logout_user

from portal.extensions import limiter, login_manager
from portal.models import User
from portal.services.accounts import staff
from portal.views.forms import EmptyForm, LoginForm

bp = Blueprint("auth", __name__, url_prefix="/staff")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    return staff.active_user(int(user_id))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("20 per minute", methods=["POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user = staff.authenticate((form.username.data or "").strip(), form.password.data or "")
        if user is not None:
            login_user(user)
            target = request.args.get("next") or ""
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("review.queue" if user.role != "merchant" else "merchant.index")
            return redirect(target, code=303)
        form.form_errors.append(gettext("Wrong username or password."))
        return render_template("auth/login.html", form=form), 422
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    if EmptyForm().validate_on_submit():
        logout_user()
    return redirect(url_for("auth.login"), code=303)
