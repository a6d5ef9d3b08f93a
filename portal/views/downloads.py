"""A case file as an HTTP download: private, never cached, never run as a page."""

from __future__ import annotations

import io

from flask import Response, send_file

from portal.services.audit.case_file import CaseFile


def case_file_response(made: CaseFile) -> Response:
    """``made`` as a ZIP attachment."""
    resp = send_file(
        io.BytesIO(made.data),
        mimetype="application/zip",
        as_attachment=True,
        download_name=made.name,
        max_age=0,
    )
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, no-store"
    return resp
