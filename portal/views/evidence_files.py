"""Sending an evidence file (or its thumbnail) to someone already found to be a party of its case.

From the local folder the file is sent as before. From object storage it is streamed through
the portal, or, with ``EVIDENCE_SIGNED_URL_SECONDS`` set, the answer is a redirect to a URL
the store signed for that one object, valid that many seconds. Either way the answer is
never cached, and a file is only ever reached after the caller's check of who is asking.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Response, abort, redirect, send_file

from portal.models import Evidence
from portal.services import context
from portal.services.uploads import storage
from portal.services.uploads.storage_local import LocalStore


def send(row: Evidence, thumbnail: bool = False) -> Response:
    """The file (or thumbnail) of ``row``: 404 if it has none or the store lost it."""
    name = row.thumb_name if thumbnail else row.stored_name
    if not name:
        abort(404)
    content_type = "image/jpeg" if thumbnail else row.content_type
    attachment = not thumbnail and row.content_type == "application/pdf"
    store = storage.current()
    try:
        if isinstance(store, LocalStore):
            path = store.path(name)
            if not path.is_file():
                raise storage.NotStored(name)
            return send_file(
                path,
                mimetype=content_type,
                download_name=None if thumbnail else row.original_name,
                as_attachment=attachment,
                max_age=0,
            )
        seconds = int(context.setting("EVIDENCE_SIGNED_URL_SECONDS", 0) or 0)
        if seconds > 0:
            url = store.signed_url(
                name, timedelta(seconds=seconds), row.original_name, content_type, not attachment
            )
            if url:
                return redirect(url, 302)  # type: ignore[return-value]
        opened = store.open(name)
    except (storage.BadName, storage.NotStored):
        abort(404)
    response = Response(opened.chunks, mimetype=content_type, direct_passthrough=True)
    response.call_on_close(opened.release)
    response.content_length = opened.size
    if not thumbnail:
        response.headers["Content-Disposition"] = storage.content_disposition(
            row.original_name, inline=not attachment
        )
    return response
