"""Prometheus metrics: what the portal counts, and the switch that loads the exporter.

Metrics are on in a process whose app has ``METRICS_TOKEN`` set (``install``); until then
every function here is a no-op and ``prometheus_client`` is not imported, so an installation
that does not scrape pays nothing for it. The metric objects live in
``portal.infra.metric_families``; ``/metrics`` (``portal/views/metrics.py``) renders them.

Under gunicorn (several worker processes) and with RQ workers on the same machine, set
``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by all of them before they start:
``prometheus_client`` then keeps each process's values in files there and ``/metrics`` adds
them up (``docs/deploy.md``).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, g, request

if TYPE_CHECKING:
    from portal.infra import metric_families

_families: metric_families.Families | None = None
#: request methods kept as a label value; any other is counted as "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STARTED = "portal_metrics_started"


def enabled() -> bool:
    """Whether this process counts (an app with ``METRICS_TOKEN`` was installed)."""
    return _families is not None


def enable() -> metric_families.Families:
    """Load the exporter and create the metrics (once per process)."""
    global _families
    if _families is None:
        from portal.infra import metric_families  # heavy: prometheus_client, only when on

        _families = metric_families.Families()
    return _families


def install(app: Flask) -> None:
    """Count ``app``'s requests when ``METRICS_TOKEN`` is set; otherwise do nothing."""
    if not app.config.get("METRICS_TOKEN"):
        return
    enable()
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_observe)


def _start() -> None:
    setattr(g, _STARTED, time.perf_counter())


def _observe(response: Response) -> Response:
    started = g.pop(_STARTED, None)
    if started is not None and _families is not None:
        # the URL rule (/review/cases/<case_no>), never the path: one series per route
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        _families.request_seconds.labels(route, method, str(response.status_code)).observe(
            time.perf_counter() - started
        )
    return response


def job_finished(queue: str, job: str, outcome: str) -> None:
    """A job ended: ``outcome`` is ``succeeded``, ``failed``, ``retried`` or ``stopped``."""
    if _families is not None:
        _families.jobs.labels(queue, job, outcome).inc()


def sweep_ran(seconds: float, lag_seconds: float | None) -> None:
    """The periodic sweep took ``seconds``; it started ``lag_seconds`` after it was due."""
    if _families is not None:
        _families.sweep_seconds.observe(seconds)
        _families.sweep_last.set_to_current_time()
        if lag_seconds is not None:
            _families.sweep_lag.set(max(0.0, lag_seconds))


def notice_failed(channel: str) -> None:
    """A notice could not be delivered through ``channel`` (mail or a notifier plugin)."""
    if _families is not None:
        _families.notice_failures.labels(channel).inc()


def webhook_failed(reason: str) -> None:
    """A webhook delivery failed: ``http`` (a non-2xx answer) or the outbound error's code."""
    if _families is not None:
        _families.webhook_failures.labels(reason).inc()


def render(snapshot: dict[str, Any], accept: str | None = None) -> tuple[bytes, str]:
    """The text exposition of every metric of this process (of all processes in
    multi-process mode) and of ``snapshot`` (read at scrape time: see ``metric_families``)."""
    return enable().render(snapshot, accept)
