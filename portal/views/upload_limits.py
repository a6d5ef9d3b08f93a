"""Uploads over the request limit: say what to do, and keep what the buyer typed.

Werkzeug refuses a body over ``MAX_CONTENT_LENGTH`` before reading it (413). Browsers send
the form's fields in page order and the file input comes last, so the typed fields are at
the head of the body: ``fields_before_files`` reads at most 64 KB of it, stops at the first
file, and the page is shown again with those fields filled in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from portal.infra.i18n import gettext

HEAD_LIMIT = 64 * 1024
# endpoint -> renders that page again from the fields found and a message
_PAGES: dict[str, Callable[[MultiDict, str], Any]] = {}


def reshow_on_too_large(endpoint: str) -> Callable[[Callable], Callable]:
    """Register the function that shows ``endpoint``'s form again after a 413."""

    def register(fn: Callable[[MultiDict, str], Any]) -> Callable:
        _PAGES[endpoint] = fn
        return fn

    return register


def limit_mb() -> int:
    """The request limit in whole megabytes."""
    return int(current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024))


def too_large_message() -> str:
    """What a buyer should do after a refused, too large upload."""
    return gettext(
        "The files were too large: at most %(mb)s MB can be sent at once, 8 MB per file."
        " Nothing was saved. Choose fewer or smaller files (a screenshot is usually under"
        " 1 MB) and send again.",
        mb=limit_mb(),
    )


def handle_too_large(exc: Exception) -> Any:
    """The 413 page: the same form again with its fields, or a page that says what to do."""
    # cycle: portal.web -> portal.views.upload_limits -> portal.web
    from portal.web import _api_problem, error_page

    if request.path.startswith("/api/"):
        return _api_problem(413, "Request Entity Too Large")
    reshow = _PAGES.get(request.endpoint or "")
    if reshow is not None:
        try:
            return reshow(fields_before_files(request.environ), too_large_message())
        except Exception:
            current_app.logger.exception("could not show the form again after a 413")
    return error_page(413, too_large_message())


def fields_before_files(environ: dict, limit: int = HEAD_LIMIT) -> MultiDict:
    """The text fields that precede the first file in a multipart body (reads <= limit)."""
    ctype, opts = parse_options_header(environ.get("CONTENT_TYPE", ""))
    fields: MultiDict = MultiDict()
    if ctype != "multipart/form-data" or not opts.get("boundary"):
        return fields
    decoder = MultipartDecoder(opts["boundary"].encode("latin-1"), max_form_memory_size=limit)
    stream = environ["wsgi.input"]
    name: str | None = None
    parts: list[bytes] = []
    read = 0
    while read < limit:
        chunk = stream.read(min(8192, limit - read))
        read += len(chunk)
        decoder.receive_data(chunk or None)
        event = decoder.next_event()
        while not isinstance(event, NeedData):
            if isinstance(event, File | Epilogue):
                return fields
            if isinstance(event, Field):
                name, parts = event.name, []
            elif isinstance(event, Data) and name is not None:
                parts.append(event.data)
                if not event.more_data:
                    fields.add(name, b"".join(parts).decode("utf-8", "replace"))
                    name = None
            event = decoder.next_event()
        if not chunk:
            break
    return fields
