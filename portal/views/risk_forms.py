"""Forms of the risk pages: a rule's thresholds, a watch-list entry, a shop's fast lane."""

from __future__ import annotations

from wtforms import IntegerField, RadioField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.domain.risk import MAX_THRESHOLD, WatchKind
from portal.infra.i18n import lazy_gettext as _l
from portal.services.risk.watch_list import MAX_DAYS, MAX_REASON, MAX_VALUE
from portal.views.forms import PortalForm, YuanField


class RuleForm(PortalForm):
    """One signal's thresholds (empty: never reaches that level)."""

    review_at = IntegerField(
        _l("Review from"), validators=[Optional(), NumberRange(min=1, max=MAX_THRESHOLD)]
    )
    high_at = IntegerField(
        _l("High risk from"), validators=[Optional(), NumberRange(min=1, max=MAX_THRESHOLD)]
    )


class WatchForm(PortalForm):
    """A contact or payer id to watch, for how long and why."""

    kind = RadioField(
        _l("What to watch"),
        choices=[
            (str(WatchKind.CONTACT), _l("Contact (phone or e-mail)")),
            (str(WatchKind.PAYER), _l("Payer id (as Alipay or WeChat Pay reports it)")),
        ],
        default=str(WatchKind.CONTACT),
        validators=[DataRequired()],
    )
    value = StringField(
        _l("Contact or payer id"), validators=[DataRequired(), Length(max=MAX_VALUE)]
    )
    days = IntegerField(
        _l("Days on the list"),
        default=90,
        validators=[InputRequired(), NumberRange(min=1, max=MAX_DAYS)],
    )
    reason = TextAreaField(
        _l("Why (kept with the entry)"),
        validators=[DataRequired(), Length(max=MAX_REASON)],
        render_kw={"rows": 2},
    )


class LaneLimitForm(PortalForm):
    """A shop's fast-lane limit in yuan (empty: the platform's default)."""

    limit = YuanField(
        _l("Fast-lane limit (yuan, empty = platform default)"), validators=[Optional()]
    )
