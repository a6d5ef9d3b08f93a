"""WTForms for the operators' plugin pages: a channel switch and a settings check."""

from __future__ import annotations

from collections.abc import Sequence

from wtforms import StringField
from wtforms.validators import Length, Optional

from portal.infra.i18n import lazy_gettext as _l
from portal.plugins.settings import SettingState
from portal.views.forms import PortalForm


class ChannelSwitchForm(PortalForm):
    """Enable or disable a channel; disabling takes a reason."""

    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class SettingsCheckForm(PortalForm):
    """Candidate values for the non-secret settings; fields are added per declared setting."""


def settings_check_form(states: Sequence[SettingState]) -> SettingsCheckForm:
    """A form with one text field per non-secret declared setting, filled with its value."""

    class Form(SettingsCheckForm):
        pass

    for state in states:
        if not state.setting.secret:
            setattr(
                Form,
                state.setting.name,
                StringField(
                    str(state.setting.label),  # built per request, in its language
                    default=state.shown,
                    validators=[Optional(), Length(max=2000)],
                ),
            )
    return Form()
