"""Structured logs (``LOG_FORMAT=json``): one JSON object per line on standard error, each with
the request id and the job id it was written under (``portal.infra.request_ids``), and one
``request`` event per web request (route rule, method, status, milliseconds).

The default (``text``) leaves logging as Flask and RQ set it up. In JSON mode one handler on
the root logger takes every library's records (Flask's, RQ's, SQLAlchemy's), so nothing is
printed twice or in another shape; ``LOG_LEVEL`` sets its level. The formatter is
``python-json-logger``'s.
"""

from __future__ import annotations

import logging
import sys
import time

from flask import Flask, Response, g, request
from flask.logging import default_handler

from portal.infra import request_ids

log = logging.getLogger(__name__)
_STARTED = "portal_log_started"


class RequestContext(logging.Filter):
    """Puts the current request id and job id on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always passes the record, with ``request_id`` and ``job_id`` set."""
        record.request_id = request_ids.current()
        record.job_id = request_ids.current_job()
        return True


def json_handler() -> logging.Handler:
    """A handler writing one JSON object per record to standard error."""
    from pythonjsonlogger.json import JsonFormatter  # heavy: for LOG_FORMAT=json only

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp=True,
            json_ensure_ascii=False,
        )
    )
    handler.addFilter(RequestContext())
    handler.set_name("portal-json")
    return handler


def install(app: Flask) -> None:
    """JSON logs for this process when ``app`` asks for them (``LOG_FORMAT``)."""
    if app.config.get("LOG_FORMAT", "text") != "json":
        return
    root = logging.getLogger()
    if not any(h.get_name() == "portal-json" for h in root.handlers):
        root.addHandler(json_handler())
    root.setLevel(str(app.config.get("LOG_LEVEL") or "INFO").upper())
    # Flask's own handler on the app's logger would print a second, plain copy
    logging.getLogger(app.name).removeHandler(default_handler)


def install_request_events(app: Flask) -> None:
    """One ``request`` event per request in JSON mode; called after the other hooks are
    installed, so that a hook answering early (a refused address) is timed and logged too."""
    if app.config.get("LOG_FORMAT", "text") != "json":
        return
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_request_event)


def _start() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _request_event(response: Response) -> Response:
    started = g.pop(_STARTED, None)
    if started is not None:
        log.info(
            "request",
            extra={
                "method": request.method[:16],
                # the URL rule, never the path: ids and order numbers stay out of the log
                "route": request.url_rule.rule if request.url_rule is not None else None,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )
    return response
