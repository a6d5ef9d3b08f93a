"""What the case page and every form do to cost less keeps what they show: a blank field's
markup kept per process is WTForms' own, a field with a value is written each time, and a row
read for the case page refuses a column it was not read with (instead of showing nothing)."""

from __future__ import annotations

import pytest
from flask import Flask
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.services.refunds.case_page import NotRead, Record
from portal.views import forms
from portal.views.forms import PortalForm


class _Sample(PortalForm):
    text = TextAreaField("Text", validators=[DataRequired(), Length(max=20)], render_kw={"rows": 2})
    name = StringField("Name")


def _wtforms_own(field, **kwargs) -> str:
    """The field as WTForms' default rendering writes it."""
    merged = {**(field.render_kw or {}), **kwargs}
    return str(field.widget(field, **merged))


def test_a_blank_field_is_written_as_wtforms_writes_it_and_kept(app: Flask) -> None:
    forms._BLANK.clear()
    with app.test_request_context("/"):
        form = _Sample(prefix="s")
        first = str(form.text(maxlength=2000))
        assert first == _wtforms_own(form.text, maxlength=2000)
        assert "required" in first and 'rows="2"' in first and 'id="s-text"' in first
        assert len(forms._BLANK) == 1
        again = _Sample(prefix="s")
        assert str(again.text(maxlength=2000)) == first
        assert len(forms._BLANK) == 1  # the same markup, written once
        other = _Sample(prefix="t")
        assert 'id="t-text"' in str(other.text(maxlength=2000))  # another name, its own


def test_a_field_with_a_value_is_written_each_time(app: Flask) -> None:
    forms._BLANK.clear()
    with app.test_request_context("/", method="POST", data={"s-name": "Ann <b>"}):
        form = _Sample(prefix="s")
        written = str(form.name())
        assert written == _wtforms_own(form.name)
        assert "Ann &lt;b&gt;" in written
    with app.test_request_context("/", method="POST", data={"s-name": "Bob"}):
        assert 'value="Bob"' in str(_Sample(prefix="s").name())
    assert forms._BLANK == {}  # typed values are never kept


def test_a_case_page_row_refuses_a_column_it_was_not_read_with() -> None:
    case = Record(state="submitted")
    assert case.state == "submitted"
    with pytest.raises(NotRead):
        _ = case.explanation
    assert not hasattr(case, "__html__")  # probes for dunder names still get AttributeError
