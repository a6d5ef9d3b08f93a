"""``refund-portal metrics-server``: ``/metrics`` alone, for a machine that runs workers and no
web process. It answers through the portal's own ``/metrics`` view (the same bearer token);
every other path is 404. With ``PROMETHEUS_MULTIPROC_DIR`` shared with the machine's
workers, it reports their jobs, sweeps and delivery failures.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from flask import Flask
from werkzeug.exceptions import NotFound

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from werkzeug.serving import BaseWSGIServer


def only_metrics(app: Flask) -> WSGIApplication:
    """A WSGI application passing ``/metrics`` to ``app`` and answering 404 to the rest."""

    def wsgi(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            return NotFound()(environ, start_response)
        return app(environ, start_response)

    return wsgi


def server(app: Flask, host: str, port: int) -> BaseWSGIServer:
    """A server for ``only_metrics(app)`` on ``host``:``port`` (0: any free port)."""
    from werkzeug.serving import make_server  # heavy: the development server's machinery

    options: dict[str, Any] = {"threaded": False}
    return make_server(host, port, only_metrics(app), **options)
