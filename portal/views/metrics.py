"""``/metrics``: the Prometheus exposition, for a scraper holding ``METRICS_TOKEN``.

Off (404, and ``prometheus_client`` never loaded) unless ``METRICS_TOKEN`` is set. The
scraper sends ``Authorization: Bearer <token>`` (Prometheus: ``authorization:
credentials_file``); anyone else gets 401. Keep the path off the public proxy as well
(``docs/deploy.md``).
"""

from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, request

from portal.extensions import csrf
from portal.infra import metrics
from portal.services.metrics_snapshot import snapshot

bp = Blueprint("metrics", __name__)
csrf.exempt(bp)


@bp.get("/metrics")
def exposition() -> Response:
    """Every metric, for a scraper that sends the configured bearer token."""
    token = current_app.config.get("METRICS_TOKEN")
    if not token:
        abort(404)
    given = request.headers.get("Authorization", "").encode("utf-8", "replace")
    if not hmac.compare_digest(given, f"Bearer {token}".encode()):
        return Response(
            "unauthorized\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = metrics.render(snapshot(), request.headers.get("Accept"))
    return Response(body, status=200, content_type=content_type)
