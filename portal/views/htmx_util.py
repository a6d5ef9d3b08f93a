"""One route, page or fragment: render a partial for htmx, or redirect after a plain POST."""

from __future__ import annotations

from typing import Any

from flask import get_flashed_messages, redirect, render_template, request
from flask.typing import ResponseReturnValue


def is_htmx() -> bool:
    """Whether this request came from htmx (and not a boosted full-page navigation, nor the
    reload of a page from history, which wants the whole page)."""
    hx = getattr(request, "htmx", None)
    if request.headers.get("HX-History-Restore-Request") == "true":
        return False
    return bool(hx) and not getattr(hx, "boosted", False)


def page_or_fragment(page: str, fragment: str, **context: Any) -> str:
    """Render the fragment alone for htmx, the whole page otherwise."""
    return render_template(fragment if is_htmx() else page, **context)


def done(url: str, fragment: str | None = None, **context: Any) -> ResponseReturnValue:
    """After a successful POST: the updated fragment for htmx, a redirect (PRG) otherwise.

    For htmx, what the action flashed is shown now, in the page's alert area (out of band),
    and taken from the session, so it does not appear again on the next page.
    """
    if fragment and is_htmx():
        body = render_template(fragment, **context)
        messages = get_flashed_messages()
        if messages:
            body += render_template("_alerts_oob.html", messages=messages)
        return body
    return redirect(url, code=303)
