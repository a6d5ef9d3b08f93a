"""``/healthz`` (the process answers) and ``/readyz`` (this node can serve), for load balancers
and orchestrators: no login, no CSRF, no session, plain machine text in no language.

``/healthz`` does no I/O. ``/readyz`` answers 200 or 503 with one ``name ok|fail`` line per
check (``portal/services/health.py``), never why a check failed.
"""

from __future__ import annotations

from flask import Blueprint, Response

from portal.extensions import csrf
from portal.services import health

bp = Blueprint("health", __name__)
csrf.exempt(bp)


def _plain(body: str, status: int) -> Response:
    return Response(body, status=status, mimetype="text/plain")


@bp.get("/healthz")
def healthz() -> Response:
    """200 while the process serves requests."""
    return _plain("ok\n", 200)


@bp.get("/readyz")
def readyz() -> Response:
    """200 when every check passes, else 503; one line per check."""
    checks = health.readiness()
    body = "".join(f"{name} {'ok' if passed else 'fail'}\n" for name, passed in checks.items())
    return _plain(body, 200 if all(checks.values()) else 503)
