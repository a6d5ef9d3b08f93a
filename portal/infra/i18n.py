"""The message catalogue at display time: the standard library's ``gettext`` over the compiled
catalogues in ``portal/translations/<language>/LC_MESSAGES/messages.mo``.

The same calls Flask-Babel offered: ``gettext("Hello %(name)s", name=...)``, ``ngettext``,
``lazy_gettext`` (forms and other module-level texts, translated when shown), ``get_locale``,
``force_locale``; in templates ``_()``/``gettext()``/``ngettext()`` and ``{% trans %}``
(Jinja's i18n extension, new-style: a template's variables are escaped into the translation).
The language is chosen by the selector given to :meth:`Catalogues.init_app`, once per request
(kept on the request; in a job, on ``g``); outside an app context the texts are shown as written
(English).

The catalogues are compiled from the ``.po`` files with ``pybabel compile`` (``make i18n``);
the compiled files are committed, so neither Babel nor a build step is needed to serve them.
"""

from __future__ import annotations

import gettext as stdlib_gettext
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app
from flask.globals import _cv_app, _cv_request
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

DOMAIN = "messages"
#: the language the texts are written in (it needs no catalogue)
SOURCE_LANGUAGE = "en"
#: a compiled catalogue, or the texts as written
Translations = stdlib_gettext.NullTranslations
_EXTENSION = "portal.i18n"
_CHOSEN = "_portal_locale"  # the attribute that keeps a request's (or a job's) language
_FOUND = "_portal_catalogue"  # beside it: (language, its catalogue), found once
_NULL = Translations()


class Catalogues:
    """The compiled catalogues of an app's languages, and how a request picks one."""

    def __init__(self) -> None:
        self.by_locale: dict[str, Translations] = {}
        self.default_locale = "en"
        self.locale_selector: Callable[[], str | None] | None = None

    def init_app(
        self,
        app: Flask,
        *,
        languages: list[str],
        default_locale: str,
        locale_selector: Callable[[], str | None],
    ) -> None:
        """Load every language's catalogue and install the template functions. A language
        without a compiled catalogue (but English, the texts' own) is a start-up error."""
        directory = Path(app.root_path) / "translations"
        self.by_locale = {locale: load(directory, locale) for locale in languages}
        missing = [
            locale
            for locale, found in self.by_locale.items()
            if found is _NULL and locale.partition("_")[0] != SOURCE_LANGUAGE
        ]
        if missing:
            raise RuntimeError(
                f"no compiled catalogue for {', '.join(missing)} under {directory}"
                " (pybabel compile -d portal/translations, see make i18n)"
            )
        self.default_locale = default_locale
        self.locale_selector = locale_selector
        app.extensions[_EXTENSION] = self
        app.jinja_env.add_extension("jinja2.ext.i18n")
        app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]
            gettext=lambda s: translations().gettext(s),
            ngettext=lambda s, p, n: translations().ngettext(s, p, n),
            pgettext=lambda c, s: translations().pgettext(c, s),
            npgettext=lambda c, s, p, n: translations().npgettext(c, s, p, n),
            newstyle=True,
        )
        # ``_()`` and ``gettext()``, a page's most frequent calls, go to the catalogue directly:
        # Jinja's own pass through two more calls each (the ``_`` alias, then the callable)
        app.jinja_env.globals["gettext"] = app.jinja_env.globals["_"] = template_gettext


@pass_context
def template_gettext(context: Context, string: str, /, **variables: Any) -> str:
    """A template's ``_()``: Jinja's new-style ``gettext`` (the translation escaped as markup
    where the template escapes, always formatted with ``variables``, so ``%%`` is ``%``)."""
    text: str = translations().gettext(string)
    if context.eval_ctx.autoescape:
        text = Markup(text)  # noqa: S704 - the catalogue's own text, as Jinja treats it
    if not variables and "%" not in text:
        return text  # formatting it would give it back unchanged (most labels)
    return text % variables


def load(directory: Path, locale: str, domain: str = DOMAIN) -> Translations:
    """The compiled catalogue for ``locale`` (``zh_CN``: ``zh_CN/``, else ``zh/``), or none."""
    for name in (locale, locale.partition("_")[0]):
        path = directory / name / "LC_MESSAGES" / f"{domain}.mo"
        if path.is_file():
            with path.open("rb") as fp:
                return stdlib_gettext.GNUTranslations(fp)
    return _NULL


def _catalogues() -> Catalogues:
    return current_app.extensions[_EXTENSION]


def _keeper() -> Any:
    """The request (in a request), else the app context's ``g`` (a job), else None; read from
    Flask's context variables directly, as a page asks for every label it shows."""
    request_context = _cv_request.get(None)
    if request_context is not None:
        return request_context.request
    app_context = _cv_app.get(None)
    return app_context.g if app_context is not None else None


def get_locale() -> str | None:
    """The reader's language tag (``zh_CN``, ``en``), chosen once per request (or job); None
    outside an app context."""
    keeper = _keeper()
    if keeper is None:
        return None
    locale: str | None = getattr(keeper, _CHOSEN, None)
    if locale is None:
        cats = _catalogues()
        chosen = cats.locale_selector() if cats.locale_selector else None
        locale = chosen or cats.default_locale
        setattr(keeper, _CHOSEN, locale)
    return locale


@contextmanager
def force_locale(locale: str) -> Iterator[None]:
    """Show texts in ``locale`` inside the block (a notice written for a buyer, say)."""
    keeper = _keeper()
    if keeper is None:
        yield
        return
    before = getattr(keeper, _CHOSEN, None)
    setattr(keeper, _CHOSEN, locale)
    try:
        yield
    finally:
        setattr(keeper, _CHOSEN, before)


def translations() -> Translations:
    """The catalogue of the reader's language (none outside an app context); found once per
    request (or job) and language, so a page's many labels are each one dictionary lookup."""
    keeper = _keeper()
    if keeper is None:
        return _NULL
    locale: str | None = getattr(keeper, _CHOSEN, None) or get_locale()
    if locale is None:
        return _NULL
    found_before = getattr(keeper, _FOUND, None)
    if found_before is not None and found_before[0] == locale:
        return found_before[1]
    found = _find(locale)
    setattr(keeper, _FOUND, (locale, found))
    return found


def _find(locale: str) -> Translations:
    by_locale = _catalogues().by_locale
    found = by_locale.get(locale)
    if found is None:  # a tag outside LANGUAGES ("zh", "en_GB"): one of its language's
        language = locale.partition("_")[0]
        same = (t for tag, t in by_locale.items() if tag.partition("_")[0] == language)
        found = next(same, _NULL)
    return found


def gettext(string: str, **variables: Any) -> str:
    """``string`` in the reader's language, with ``%(name)s`` filled from ``variables``."""
    text = translations().gettext(string)
    return text % variables if variables else text


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """The singular or plural text for ``num`` in the reader's language (``%(num)d`` is
    ``num``)."""
    variables.setdefault("num", num)
    return translations().ngettext(singular, plural, num) % variables


def lazy_gettext(string: str, **variables: Any) -> str:
    """Like :func:`gettext`, translated each time it is shown (for texts defined at import).

    A :class:`LazyString`, typed as the ``str`` it stands in for wherever one is read (a form
    field's label, a template), as libraries such as WTForms type their texts ``str``.
    """
    return cast(str, LazyString(gettext, string, **variables))


class LazyString:
    """A text translated when it is used as a string (Flask-Babel's ``LazyString``)."""

    __slots__ = ("_args", "_func", "_kwargs")

    def __init__(self, func: Callable[..., str], *args: Any, **kwargs: Any) -> None:
        self._func = func
        self._args = args
        self._kwargs = kwargs

    def __str__(self) -> str:
        return str(self._func(*self._args, **self._kwargs))

    def __repr__(self) -> str:
        return f"l{str(self)!r}"

    def __html__(self) -> str:
        # the catalogue's own text: markup in a translation is the translator's
        return str(self)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):  # copy/pickle probing: not a str method
            raise AttributeError(attr)
        return getattr(str(self), attr)

    def __len__(self) -> int:
        return len(str(self))

    def __getitem__(self, key: Any) -> str:
        return str(self)[key]

    def __iter__(self) -> Iterator[str]:
        return iter(str(self))

    def __contains__(self, item: str) -> bool:
        return item in str(self)

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __mul__(self, other: int) -> str:
        return str(self) * other

    def __rmul__(self, other: int) -> str:
        return other * str(self)

    def __mod__(self, other: Any) -> str:
        return str(self) % other

    def __eq__(self, other: object) -> bool:
        return str(self) == other

    def __ne__(self, other: object) -> bool:
        return str(self) != other

    def __lt__(self, other: str) -> bool:
        return str(self) < other

    def __le__(self, other: str) -> bool:
        return str(self) <= other

    def __gt__(self, other: str) -> bool:
        return str(self) > other

    def __ge__(self, other: str) -> bool:
        return str(self) >= other

    def __hash__(self) -> int:
        return hash(str(self))
