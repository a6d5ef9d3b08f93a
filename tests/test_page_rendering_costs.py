"""What the case page and every form do to cost less keeps what they show: a blank field's
markup kept per process is WTForms' own, a field with a value is written each time, and a row
read for the case page refuses a column it was not read with (instead of showing nothing)."""

from __future__ import annotations

import pytest
from flask import Flask
from wtforms import MultipleFileField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.services.refunds.case_page import NotRead, Record
from portal.views import form_writing, forms
from portal.views.forms import PortalForm


class _Sample(PortalForm):
    text = TextAreaField("Text", validators=[DataRequired(), Length(max=20)], render_kw={"rows": 2})
    name = StringField("Name")
    files = MultipleFileField("Files")


def _wtforms_own(field, **kwargs) -> str:
    """The field as WTForms' default rendering writes it."""
    merged = {**(field.render_kw or {}), **kwargs}
    return str(field.widget(field, **merged))


def test_a_blank_field_is_written_as_wtforms_writes_it_and_kept(app: Flask) -> None:
    form_writing._BLANK.clear()
    with app.test_request_context("/"):
        form = _Sample(prefix="s")
        first = str(form.text(maxlength=2000))
        assert first == _wtforms_own(form.text, maxlength=2000)
        assert "required" in first and 'rows="2"' in first and 'id="s-text"' in first
        assert len(form_writing._BLANK) == 1
        again = _Sample(prefix="s")
        assert str(again.text(maxlength=2000)) == first
        assert len(form_writing._BLANK) == 1  # the same markup, written once
        other = _Sample(prefix="t")
        assert 'id="t-text"' in str(other.text(maxlength=2000))  # another name, its own


def test_a_file_input_is_kept_whatever_was_sent_as_it_never_writes_a_value(app: Flask) -> None:
    from io import BytesIO

    form_writing._BLANK.clear()
    kw = {"multiple": True, "accept": "image/png"}
    with app.test_request_context("/"):
        blank = str(_Sample(prefix="s").files(**kw))
        assert blank == _wtforms_own(_Sample(prefix="s").files, **kw)
        assert len(form_writing._BLANK) == 1
    sent = {"s-files": (BytesIO(b"x"), "a.png")}
    with app.test_request_context("/", method="POST", data=sent):
        form = _Sample(prefix="s")
        assert form.files.data  # a file was sent: the input still writes no value
        assert str(form.files(**kw)) == _wtforms_own(form.files, **kw) == blank
    assert len(form_writing._BLANK) == 1


def test_a_field_with_a_value_is_written_each_time(app: Flask) -> None:
    form_writing._BLANK.clear()
    with app.test_request_context("/", method="POST", data={"s-name": "Ann <b>"}):
        form = _Sample(prefix="s")
        written = str(form.name())
        assert written == _wtforms_own(form.name)
        assert "Ann &lt;b&gt;" in written
    with app.test_request_context("/", method="POST", data={"s-name": "Bob"}):
        assert 'value="Bob"' in str(_Sample(prefix="s").name())
    assert form_writing._BLANK == {}  # typed values are never kept


def test_a_case_page_row_refuses_a_column_it_was_not_read_with() -> None:
    case = Record(state="submitted")
    assert case.state == "submitted"
    with pytest.raises(NotRead):
        _ = case.explanation
    assert not hasattr(case, "__html__")  # probes for dunder names still get AttributeError


_SHOWN_BLANK = [
    (forms.MessageForm, "shop"),
    (forms.MessageForm, "msg"),
    (forms.AddFilesForm, "add"),
    (forms.AnswerForm, ""),
    (forms.OfferForm, "offer"),
    (forms.EmptyForm, ""),
    (forms.EmptyForm, "accept"),
]


@pytest.mark.parametrize(("form_class", "prefix"), _SHOWN_BLANK)
@pytest.mark.parametrize(("language", "label"), [("zh-CN", "凭证"), ("en", "evidence")])
def test_a_form_shown_blank_is_written_as_the_form_itself_writes_it(
    app: Flask, form_class, prefix: str, language: str, label: str
) -> None:
    """On a page shown by GET, the blank form's markup (its hidden tag with the request's own
    token, each field and its label, in the reader's language) is the markup of the form built
    for the request."""
    with app.test_request_context("/", headers={"Accept-Language": language}):
        shown = form_writing.deferred(form_class, prefix=prefix)
        real = form_class(prefix=prefix)
        assert isinstance(shown._make(), form_writing.BlankForm)
        assert str(shown.hidden_tag()) == str(real.hidden_tag())
        assert real.csrf_token.current_token in str(shown.hidden_tag())
        names = [f.short_name for f in real if f.short_name != "csrf_token"]
        for name in names:
            blank_field, real_field = getattr(shown, name), getattr(real, name)
            assert str(blank_field()) == str(real_field())
            assert str(blank_field.label()) == str(real_field.label())
            assert blank_field.id == real_field.id
        assert shown.form_errors == [] and shown.errors == {}
        if form_class is forms.AddFilesForm:
            assert label in str(shown.files.label())


def test_a_form_shown_blank_never_carries_another_sessions_token(app: Flask) -> None:
    """The fields are kept per process; the token is each request's own, and the CSRF field
    read directly is the one of the form built for the request."""
    tokens = []
    for _ in range(2):
        with app.app_context(), app.test_request_context("/"):  # a new session each time
            shown = form_writing.deferred(forms.MessageForm, prefix="shop")
            tag = str(shown.hidden_tag())
            token = shown.csrf_token.current_token  # read from a form built for this request
            assert token and token in tag
            tokens.append(token)
    assert tokens[0] != tokens[1]


def test_a_form_on_a_post_is_the_form_itself_with_what_was_typed(app: Flask) -> None:
    """A page shown again after a POST (an action that failed) writes the forms with the typed
    text: only forms on a page shown by GET are shown blank."""
    with app.test_request_context("/", method="POST", data={"shop-text": "hello <b>"}):
        shown = form_writing.deferred(forms.MessageForm, prefix="shop")
        assert not isinstance(shown._make(), form_writing.BlankForm)
        assert "hello &lt;b&gt;" in str(shown.text())
    with app.test_request_context("/"):
        with_data = form_writing.deferred(forms.MessageForm, prefix="shop", data={"text": "x"})
        assert not isinstance(with_data._make(), form_writing.BlankForm)


def test_the_case_page_reads_a_case_with_or_without_events_it_shows(app, clock) -> None:
    """The case and its timeline come in one statement: a case with no event the buyer sees
    is one row with empty event columns (no event made of it), and staff-only events stay off
    the buyer's page."""
    from portal.extensions import db
    from portal.services.actors import SYSTEM
    from portal.services.refunds import case_page, transitions
    from tests import factories as f
    from tests.test_ledger import case_for

    case = case_for(f.order(clock()))
    db.session.commit()
    page = case_page.load(case.case_no)
    assert page.case.case_no == case.case_no and page.order.id == case.order_id
    assert page.events == [] and page.offers == {} and page.open_offer is None
    assert not page.has_ticket and page.evidence == [] and page.payouts == []
    transitions.record("claimed", SYSTEM, case=case)  # staff only
    transitions.record("message", SYSTEM, case=case, reason="hello")
    transitions.record("message", SYSTEM, case=case, reason="again")
    db.session.commit()
    page = case_page.load(case.case_no)
    assert [(e.kind, e.reason) for e in page.events] == [("message", "hello"), ("message", "again")]
    assert page.case.state == "appealed"  # the case's columns, the same on every row
