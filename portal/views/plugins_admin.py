"""Operator pages (supervisors): loaded plugins, channel switches, declared plugin settings,
the channels' connection checks (the same as ``refund-portal check-channels``), and the
order sources' rows not taken in."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal.domain.labels import SOURCE_PROBLEM_LABELS
from portal.infra.i18n import gettext, lazy_gettext
from portal.plugins.forms import ChannelSwitchForm, settings_check_form
from portal.plugins.loading import BROKEN
from portal.plugins.settings import INVALID, REQUIRED, SettingState, Text, setting_states
from portal.plugins.startup import channels, loaded_plugins
from portal.services.errors import DomainError
from portal.services.integration import order_source_status
from portal.services.money import channel_switches
from portal.services.money.channel_checks import ChannelCheck, check_channels
from portal.views.access import staff_actor, supervisor_required
from portal.views.forms import EmptyForm
from portal.web import domain_message

bp = Blueprint("plugins_admin", __name__, url_prefix="/review/plugins")


@bp.get("/")
@supervisor_required
def index() -> ResponseReturnValue:
    """Every plugin with its version and status, and the channels with their switches."""
    plugins = loaded_plugins()
    owner = {cid: p.name for p in plugins for cid in p.channel_ids}
    disabled = channel_switches.disabled_ids()
    rows = [
        {
            "id": cid,
            "label": channels().get(cid).label,
            "plugin": owner.get(cid, ""),
            "enabled": cid not in disabled,
        }
        for cid in channels().ids()
    ]
    return render_template(
        "review/plugins.html", plugins=plugins, channels=rows, form=ChannelSwitchForm()
    )


@bp.post("/channels/<channel_id>/<any(enable, disable):action>")
@supervisor_required
def switch(channel_id: str, action: str) -> ResponseReturnValue:
    """Enable or disable one channel."""
    form = ChannelSwitchForm()
    if form.validate_on_submit():
        try:
            channel_switches.set_enabled(
                channel_id,
                action == "enable",
                staff_actor(),
                form.reason.data or "",
                set(channels().ids()),
            )
            flash(
                gettext("Channel %(channel)s enabled.", channel=channel_id)
                if action == "enable"
                else gettext("Channel %(channel)s disabled.", channel=channel_id)
            )
        except DomainError as exc:
            flash(domain_message(exc))
    return redirect(url_for("plugins_admin.index"), code=303)


_PROBLEMS = {REQUIRED: lazy_gettext("required"), INVALID: lazy_gettext("invalid value")}


def problem_text(problem: Text) -> str:
    """A setting's problem in the reader's language (the portal's own codes are translated)."""
    return str(_PROBLEMS.get(problem, problem)) if isinstance(problem, str) else str(problem)


def _states() -> list[SettingState]:
    broken = {p.name for p in loaded_plugins() if p.status == BROKEN}
    pm = current_app.extensions["portal.plugins.manager"]
    return setting_states(pm, current_app.config, skip=broken)


@bp.get("/settings")
@supervisor_required
def settings() -> ResponseReturnValue:
    """The settings plugins declare: values (secrets only as set/missing) and problems."""
    states = _states()
    return _settings_page(states, settings_check_form(states))


def _settings_page(
    states: list[SettingState],
    form: object,
    checked: dict[str, str] | None = None,
    channel_checks: list[ChannelCheck] | None = None,
) -> str:
    return render_template(
        "review/plugin_settings.html",
        states=states,
        problem_text=problem_text,
        form=form,
        checked=checked,
        check_form=EmptyForm(),
        channel_checks=channel_checks,
    )


@bp.post("/settings/check-channels")
@supervisor_required
def check_connections() -> ResponseReturnValue:
    """One harmless signed call per channel that can check itself; the results on the page."""
    states = _states()
    if not EmptyForm().validate_on_submit():
        flash(
            gettext(
                "The form expired or did not come from this site. Go back, reload and try again."
            )
        )
        return redirect(url_for("plugins_admin.settings"), code=303)
    found = check_channels(channels().all())
    return _settings_page(states, settings_check_form(states), channel_checks=found)


@bp.post("/settings/check")
@supervisor_required
def check_settings() -> ResponseReturnValue:
    """Check candidate values for the non-secret settings; nothing is stored."""
    states = _states()
    form = settings_check_form(states)
    checked: dict[str, str] | None = None
    if form.validate_on_submit():
        checked = {}
        for state in states:
            if not state.setting.secret:
                problem = state.setting.check(form[state.setting.name].data)
                if problem:
                    form[state.setting.name].errors.append(problem_text(problem))
                checked[state.setting.name] = form[state.setting.name].data or ""
        if any(form[s.setting.name].errors for s in states if not s.setting.secret):
            checked = None
    status = 200 if checked is not None else 422
    return _settings_page(states, form, checked), status


@bp.get("/order-sources")
@supervisor_required
def order_sources() -> ResponseReturnValue:
    """How far each shop's order source has been read, and each row not taken in."""
    return render_template(
        "review/order_sources.html",
        readings=order_source_status.readings(),
        problems=order_source_status.all_problems(),
        labels=SOURCE_PROBLEM_LABELS,
    )
