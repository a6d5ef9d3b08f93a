"""WTForms: the shape of input only (rules live in portal.domain and portal.services).

Every form derives from ``PortalForm``, which refuses control characters in any field
(``portal.domain.text``): one check for every form, including the ones built at run time.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from flask import flash
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from markupsafe import Markup
from wtforms import (
    BooleanField,
    MultipleFileField,
    PasswordField,
    RadioField,
    StringField,
    TextAreaField,
)
from wtforms.i18n import messages_path
from wtforms.validators import DataRequired, Length, Optional, ValidationError
from wtforms.widgets import HiddenInput

from portal.domain.money import MoneyError, parse_yuan
from portal.domain.policy import BUYER_REASONS, REASON_LABELS, Kind
from portal.domain.text import bad_character
from portal.infra import i18n
from portal.infra.i18n import gettext
from portal.infra.i18n import lazy_gettext as _l
from portal.views import form_writing


def flash_form_errors(form: FlaskForm) -> None:
    """Show each of a refused form's errors on the page the reader is sent back to."""
    for errors in form.errors.values():
        for error in errors:
            flash(str(error))


def control_character_message(char: str, position: int) -> str:
    """What a person reads when a field holds a control character (position counts from 1)."""
    return gettext(
        "This field contains an invisible control character (%(char)s, character %(pos)s),"
        " which is not allowed. Delete it (or retype the text) and send again.",
        char=char,
        pos=position,
    )


class PortalForm(FlaskForm):
    """The base of every form: a field holding a control character fails with a clear message.

    Applied to the raw submitted strings, before any field's own parsing, so no filter or
    coercion can hide one. Multi-line fields (text areas) keep tab and line breaks.
    WTForms' own messages ("This field is required.") come from its catalogues, in the
    reader's language.
    """

    class Meta:
        """WTForms' options for every form (merged with Flask-WTF's)."""

        def get_translations(self, form: Any) -> Any:
            return wtforms_catalogue(i18n.get_locale() or "en")

        def render_field(self, field: Any, render_kw: dict[str, Any]) -> Markup:
            """WTForms' rendering, with a blank field's markup kept
            (:func:`portal.views.form_writing.kept_blank`)."""
            write = super().render_field  # type: ignore[misc]
            return form_writing.kept_blank(field, render_kw, write)

    def hidden_tag(self, *fields: Any) -> Markup:
        """Flask-WTF's ``hidden_tag`` (the form's hidden fields, the CSRF token among them),
        each written as WTForms writes a hidden field without validation attributes, but
        directly: every form on every page renders one, and WTForms' generic input rendering
        costs ten times as much."""
        chosen = (getattr(self, f, None) if isinstance(f, str) else f for f in fields or self)
        hidden = (f for f in chosen if f is not None and isinstance(f.widget, HiddenInput))
        return Markup("\n").join(form_writing.hidden_input(f) for f in hidden)

    def validate(self, extra_validators: Any = None) -> bool:
        ok = super().validate(extra_validators)
        for field in self:
            multiline = isinstance(field, TextAreaField)
            for value in field.raw_data or ():
                found = bad_character(value, multiline) if isinstance(value, str) else None
                if found is not None:
                    position, char = found
                    field.errors = [control_character_message(char, position + 1)]
                    ok = False
                    break
        return ok


@cache
def wtforms_catalogue(locale: str) -> i18n.Translations:
    """WTForms' catalogue of its validators' messages for ``locale`` (shipped with WTForms)."""
    return i18n.load(Path(messages_path()), locale, domain="wtforms")


class YuanField(StringField):
    """An amount typed in yuan ("12.50"); ``.fen`` holds the parsed integer fen."""

    fen: int | None = None

    def pre_validate(self, form: FlaskForm) -> None:
        self.fen = None
        if self.data in (None, ""):
            return
        try:
            self.fen = parse_yuan(self.data)
        except MoneyError:
            raise ValidationError(_l("Enter an amount in yuan, like 12 or 12.50.")) from None


class LookupForm(PortalForm):
    """Order number + contact + query password."""

    order_no = StringField(_l("Order number"), validators=[DataRequired(), Length(max=64)])
    contact = StringField(
        _l("Phone or e-mail used at checkout"), validators=[DataRequired(), Length(max=120)]
    )
    password = PasswordField(_l("Query password"), validators=[DataRequired(), Length(max=128)])


class PasswordForm(PortalForm):
    """A staff member's own password change."""

    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=128)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=128)])


class ApplyForm(PortalForm):
    """A buyer's refund application."""

    kind = RadioField(
        _l("Type"),
        choices=[
            (Kind.REFUND_ONLY.value, _l("Refund only")),
            (Kind.RETURN_AND_REFUND.value, _l("Return and refund (give back unused codes)")),
        ],
        default=Kind.REFUND_ONLY.value,
        validators=[DataRequired()],
    )
    reason = RadioField(
        _l("Reason"),
        choices=[(r.value, _l(REASON_LABELS[r])) for r in BUYER_REASONS],
        validators=[DataRequired(message=_l("Choose a reason."))],
    )
    amount = YuanField(_l("Amount (yuan)"), validators=[Optional()])
    explanation = TextAreaField(
        _l("What happened"), validators=[Length(max=2000)], render_kw={"rows": 4}
    )
    files = MultipleFileField(_l("Evidence (screenshots, chat records; JPEG, PNG, WebP, PDF)"))


class AnswerForm(PortalForm):
    """The buyer answers a request for more material."""

    text = TextAreaField(_l("Your answer"), validators=[Length(max=2000)], render_kw={"rows": 3})
    files = MultipleFileField(_l("More evidence"))


class AddFilesForm(PortalForm):
    """The buyer adds evidence to an undecided case."""

    files = MultipleFileField(_l("More evidence"))


class EmptyForm(PortalForm):
    """A form with only the CSRF token (withdraw, start review, confirm return)."""


class NoteForm(PortalForm):
    """An optional note (e.g. opening a negotiation)."""

    note = TextAreaField(_l("Note"), validators=[Length(max=2000)], render_kw={"rows": 2})


class ReasonForm(PortalForm):
    """A required reason shown to the buyer (reject, ask for material)."""

    note = TextAreaField(
        _l("Reason (shown to the buyer)"),
        validators=[DataRequired(), Length(max=2000)],
        render_kw={"rows": 2},
    )


class HoldForm(PortalForm):
    """A supervisor's legal hold set or lifted: the reason is recorded with who did it."""

    reason = TextAreaField(
        _l("Reason (recorded)"),
        validators=[DataRequired(), Length(max=500)],
        render_kw={"rows": 2},
    )


class RefuseErasureForm(PortalForm):
    """Refusing a buyer's erasure request: the buyer reads the reason."""

    reason = TextAreaField(
        _l("Reason (shown to the buyer)"),
        validators=[DataRequired(), Length(max=2000)],
        render_kw={"rows": 2},
    )


class RevealContactForm(PortalForm):
    """Asking to see a buyer's whole contact: the reason is recorded with who asked."""

    why = StringField(
        _l("Why you need the full contact"),
        validators=[DataRequired(), Length(max=200)],
    )


class ApproveForm(PortalForm):
    """Approve in full or for a smaller amount."""

    amount = YuanField(_l("Amount to refund (yuan, empty = as asked)"), validators=[Optional()])
    note = TextAreaField(_l("Note"), validators=[Length(max=2000)], render_kw={"rows": 2})


class LoginForm(PortalForm):
    """Staff login."""

    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=128)])


class ManualRouteForm(PortalForm):
    """Record that a failed refund was paid by another route."""

    route = StringField(_l("Route used"), validators=[DataRequired(), Length(max=30)])
    note = TextAreaField(
        _l("Why (kept in the case record)"), validators=[DataRequired(), Length(max=2000)]
    )


class RedirectForm(PortalForm):
    """Send on a refund the payment channel holds (the buyer's account could not receive it)."""

    to = RadioField(
        _l("Send it to"),
        choices=[
            ("buyer_card", _l("The buyer's debit card")),
            ("merchant_account", _l("The merchant's bank account (the merchant pays the buyer)")),
        ],
        default="buyer_card",
        validators=[DataRequired()],
    )
    bank = StringField(_l("Bank"), validators=[Optional(), Length(max=16)])
    card_no = StringField(_l("Card number"), validators=[Optional(), Length(max=40)])
    holder_name = StringField(
        _l("Card holder's real name"), validators=[Optional(), Length(max=50)]
    )


class StatementForm(PortalForm):
    """Upload a statement (a bank's camt.053, or whatever the channel reads)."""

    statement = FileField(_l("Statement file"), validators=[DataRequired()])


class MessageForm(PortalForm):
    """A message in the negotiation thread or a ticket."""

    text = TextAreaField(
        _l("Message"), validators=[DataRequired(), Length(max=2000)], render_kw={"rows": 2}
    )


class OfferForm(PortalForm):
    """A structured offer: an amount and a note."""

    amount = YuanField(_l("Amount (yuan)"), validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Length(max=500)])


class AppealForm(PortalForm):
    """The buyer's appeal of a rejection."""

    statement = TextAreaField(
        _l("Why the decision is wrong"),
        validators=[DataRequired(), Length(min=10, max=2000)],
        render_kw={"rows": 4},
    )
    files = MultipleFileField(_l("More evidence"))


class FreezeForm(PortalForm):
    """Freeze merchant funds while an appeal is open."""

    amount = YuanField(_l("Amount to freeze (yuan, empty = the amount in dispute)"))


class ImportForm(PortalForm):
    """A CSV file of orders; "check only" reports every bad row and imports nothing."""

    file = FileField(_l("Orders (CSV, UTF-8)"), validators=[DataRequired()])
    dry_run = BooleanField(_l("Check only (import nothing)"), default=True)


class WebhookForm(PortalForm):
    """A new webhook endpoint."""

    url = StringField(_l("Address (https://…)"), validators=[DataRequired(), Length(max=500)])


class ApiKeyForm(PortalForm):
    """A new API key, with a label to tell keys apart."""

    label = StringField(_l("Label"), validators=[Optional(), Length(max=80)])


class ResolveDifferenceForm(PortalForm):
    """Resolve one reconciliation difference: say how (kept with it and in the audit trail)."""

    note = TextAreaField(_l("How it was resolved"), validators=[DataRequired(), Length(max=2000)])


class FetchBillForm(PortalForm):
    """Fetch and reconcile one channel's bill of a past day, now."""

    channel = StringField(_l("Payment route"), validators=[DataRequired(), Length(max=40)])
    day = StringField(_l("Bill date"), validators=[DataRequired(), Length(max=10)])
