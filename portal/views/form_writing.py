"""Writing forms cheaply, as WTForms would write them: a form built only when a page shows
it (:func:`deferred`), a form a page shows empty written from fields built once per process
(:class:`BlankForm`), a blank field's markup kept (:func:`kept_blank`), hidden fields written
directly (:func:`hidden_input`), and the request's CSRF token read where Flask-WTF keeps it
(:func:`request_csrf_token`). What the markup says is WTForms' own
(``tests/test_page_rendering_costs.py`` compares them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from flask.globals import _cv_app
from flask_wtf import FlaskForm
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape
from wtforms.widgets import FileInput, HiddenInput, TextArea, TextInput

from portal.infra import i18n


def request_csrf_token() -> str:
    """The request's CSRF token: Flask-WTF's ``generate_csrf``, whose token for the request it
    keeps on ``g`` under the CSRF field's name once made (as its documentation says); read
    from there directly, as a page asks for it for each of its forms (the templates'
    ``csrf_token()``, the hidden tag of a form shown blank)."""
    app_context = _cv_app.get(None)
    if app_context is not None:
        name = app_context.app.config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
        made = app_context.g.get(name)
        if isinstance(made, str):
            return made
    return generate_csrf()


class Deferred:
    """A form built the first time a template reads it: a page that shows a form only in some
    states (a message box while a case is open, an answer while information is asked for)
    builds it, with its fields and CSRF token, only when it shows it."""

    __slots__ = ("_form", "_make")

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._form: Any = None

    def __getattr__(self, name: str) -> Any:
        form = self._form
        if form is None:
            form = self._form = self._make()
        return getattr(form, name)


def deferred(form_class: type[FlaskForm], **options: Any) -> Deferred:
    """``form_class(**options)``, built when first read (see :class:`Deferred`). On a page
    shown by GET, a form given no options but its ``prefix`` is shown blank
    (:class:`BlankForm`)."""
    if request.method in ("GET", "HEAD") and options.keys() <= {"prefix"}:
        prefix = options.get("prefix", "")
        return Deferred(lambda: BlankForm(form_class, prefix))
    return Deferred(lambda: form_class(**options))


class BlankForm:
    """A form as a page shown by GET writes it, empty: its fields are those of the same form
    built once per process for its class, prefix and language, without a CSRF token (a blank
    field is the same for everyone; see :func:`_blank_fields`), and its hidden tag carries the
    request's own token. Anything else a template reads from it (its ``csrf_token`` field,
    say) comes from the form built for this request, as it would without this."""

    __slots__ = ("_class", "_csrf_name", "_fields", "_prefix", "_real")

    def __init__(self, form_class: type[FlaskForm], prefix: str) -> None:
        self._class, self._prefix = form_class, prefix
        self._fields, self._csrf_name = _blank_fields(
            form_class, prefix, i18n.get_locale() or "", current_app.config
        )
        self._real: FlaskForm | None = None

    def hidden_tag(self, *fields: Any) -> Markup:
        """The hidden fields (none but the token, for the forms shown blank) and the request's
        CSRF token, written as :meth:`PortalForm.hidden_tag` writes them."""
        names = [f if isinstance(f, str) else f.short_name for f in fields] or [
            *self._fields,
            "csrf_token",
        ]
        parts = []
        for name in names:
            if name == "csrf_token":
                html = '<input id="{0}" name="{0}" type="hidden" value="{1}">'
                values = escape(self._csrf_name), escape(request_csrf_token())
                parts.append(Markup(html.format(*values)))  # noqa: S704 - each value escaped
            elif name in self._fields and isinstance(self._fields[name].widget, HiddenInput):
                parts.append(hidden_input(self._fields[name]))
        return Markup("\n").join(parts)

    def __getattr__(self, name: str) -> Any:
        found = self._fields.get(name) if name != "csrf_token" else None
        if found is not None:
            return found
        if name == "errors":
            return {}  # a blank form has none
        if name == "form_errors":
            return []
        real = self._real
        if real is None:
            real = self._real = self._class(prefix=self._prefix)
        return getattr(real, name)


#: blank forms' fields by form class, prefix and language (see :func:`_blank_fields`)
_BLANK_FORMS: dict[tuple[Any, ...], tuple[dict[str, Any], str]] = {}


def _blank_fields(
    form_class: type[FlaskForm], prefix: str, locale: str, config: Any
) -> tuple[dict[str, Any], str]:
    """The fields of ``form_class`` built blank (no form data, no CSRF token) and the name of
    its CSRF field, once per process for each class, prefix and language. The fields are
    only read: a template writes them, it never fills them."""
    key = (form_class, prefix, locale)
    found = _BLANK_FORMS.get(key)
    if found is None:
        form = form_class(formdata=None, prefix=prefix, meta={"csrf": False})
        field_name = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
        found = _BLANK_FORMS[key] = (dict(form._fields), form._prefix + field_name)
    return found


def hidden_input(field: Any) -> Markup:
    flags = field.flags
    if any(getattr(flags, name, None) for name in field.widget.validation_attrs):
        rendered: Markup = field()  # required or disabled: WTForms writes the flag too
        return rendered
    html = '<input id="{}" name="{}" type="hidden" value="{}">'
    # each value escaped by ``escape``: the text is markup
    return Markup(html.format(escape(field.id), escape(field.name), escape(field._value())))  # noqa: S704


#: the widgets whose markup depends only on the field's id, name, value, flags and attributes
_PLAIN_WIDGETS = (TextArea, TextInput, FileInput, HiddenInput)
#: blank fields' markup by what it is written from (see :func:`kept_blank`)
_BLANK: dict[tuple[Any, ...], Markup] = {}
_BLANK_MAX = 1024


def kept_blank(
    field: Any, render_kw: dict[str, Any], write: Callable[[Any, dict[str, Any]], Markup]
) -> Markup:
    """``write(field, render_kw)`` (WTForms' rendering), kept per process for a blank field
    (see :func:`_blank_key`)."""
    key = _blank_key(field, render_kw)
    if key is None:
        return write(field, render_kw)
    found = _BLANK.get(key)
    if found is None:
        if len(_BLANK) >= _BLANK_MAX:
            _BLANK.clear()
        found = _BLANK[key] = write(field, render_kw)
    return found


def _blank_key(field: Any, render_kw: dict[str, Any]) -> tuple[Any, ...] | None:
    """Everything a blank field's markup is written from, or None (not blank, or not a plain
    widget: written each time). A form shown empty (most forms on most pages) writes the same
    markup for a field every time, and WTForms' generic attribute writing is slow: kept, it is
    written once per process (labels are written apart; an attribute given as a translated text
    is part of the key, so each language has its own)."""
    widget = field.widget
    if type(widget) not in _PLAIN_WIDGETS or getattr(field, "_datalist", None) is not None:
        return None
    if type(widget) is not FileInput and field._value() != "":
        return None  # a value (typed text) is never kept; a file input never writes one
    flags = tuple(sorted(vars(field.flags).items()))
    attrs = tuple(sorted({**(getattr(field, "render_kw", None) or {}), **render_kw}.items()))
    key = (
        type(widget),
        getattr(widget, "input_type", None),
        getattr(widget, "multiple", None),
        field.id,
        field.name,
        flags,
        attrs,
    )
    try:
        hash(key)
    except TypeError:
        return None
    if any(callable(v) for _, v in flags):
        return None
    return key
