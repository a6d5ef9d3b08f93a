"""One route, page or fragment: render a partial for htmx, or redirect after a plain POST."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request
from flask.typing import ResponseReturnValue


def is_htmx() -> bool:
    """Whether this request came from htmx (and not a boosted full-page navigation)."""
    hx = getattr(request, "htmx", None)
    return bool(hx) and not getattr(hx, "boosted", False)


def page_or_fragment(page: str, fragment: str, **context: Any) -> str:
    """Render the fragment alone for htmx, the whole page otherwise."""
    return render_template(fragment if is_htmx() else page, **context)


def done(url: str, fragment: str | None = None, **context: Any) -> ResponseReturnValue:
    """After a successful POST: the updated fragment for htmx, a redirect (PRG) otherwise."""
    if fragment and is_htmx():
        return render_template(fragment, **context)
    return redirect(url, code=303)
