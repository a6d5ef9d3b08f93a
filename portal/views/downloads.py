"""A case file as an HTTP download: private, never cached, never run as a page; and the
words its PDF uses for what the portal stored (the notes as pages word them)."""

from __future__ import annotations

import io

from flask import Response, send_file

from portal.services.audit.case_file import CaseFile, Wording
from portal.views import note_words
from portal.web import channel_name, local_time


def wording() -> Wording:
    """The case file PDF's wording: the same as the case pages'."""
    return Wording(
        local_time=local_time,
        event_note=note_words.event_note,
        person_words=note_words.person_words,
        gateway_text=note_words.gateway_text,
        decision_text=note_words.decision_text,
        channel_name=channel_name,
    )


def case_file_response(made: CaseFile) -> Response:
    """``made`` as an attachment (a ZIP or a PDF)."""
    resp = send_file(
        io.BytesIO(made.data),
        mimetype=made.mimetype,
        as_attachment=True,
        download_name=made.name,
        max_age=0,
    )
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
