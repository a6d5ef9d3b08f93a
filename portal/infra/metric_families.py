"""The metric objects (``prometheus_client``) and their exposition; imported only when on.

Labels are bounded sets: a route is its URL rule, a job its function's dotted name, a
channel a plugin's name, a reason a fixed code. Values read at scrape time (queue depth,
payouts by state and channel) come in a ``snapshot`` the caller reads for the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

#: the sweep runs every minute: buckets around that scale
SWEEP_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class Families:
    """Every metric the portal keeps, registered once per process."""

    def __init__(self) -> None:
        self.request_seconds = Histogram(
            "portal_http_request_duration_seconds",
            "Time to answer a request, by route (URL rule), method and status.",
            ["route", "method", "status"],
        )
        self.jobs = Counter(
            "portal_jobs",
            "Jobs ended, by queue, job function and outcome.",
            ["queue", "job", "outcome"],
        )
        self.sweep_seconds = Histogram(
            "portal_sweep_duration_seconds",
            "Time one periodic sweep took.",
            buckets=SWEEP_BUCKETS,
        )
        self.sweep_lag = Gauge(
            "portal_sweep_lag_seconds",
            "How late the latest sweep started after the time it was scheduled for.",
            multiprocess_mode="mostrecent",
        )
        self.sweep_last = Gauge(
            "portal_sweep_last_run_timestamp_seconds",
            "When the latest sweep finished (Unix time).",
            multiprocess_mode="max",
        )
        self.notice_failures = Counter(
            "portal_notice_delivery_failures",
            "Notice deliveries that failed, by channel (mail or a notifier plugin).",
            ["channel"],
        )
        self.webhook_failures = Counter(
            "portal_webhook_delivery_failures",
            "Webhook deliveries that failed, by reason (http status or connection error code).",
            ["reason"],
        )

    def render(self, snapshot: dict[str, Any], accept: str | None) -> tuple[bytes, str]:
        """This process's metrics (or every process's, in multi-process mode) and the
        snapshot's, in the format ``accept`` asks for (text 0.0.4 by default)."""
        registry = REGISTRY
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # every process's values from the shared folder, not this process's registry
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(_Snapshot(snapshot))
        encoder, content_type = choose_encoder(accept or "")
        if encoder is generate_latest:
            return generate_latest(registry) + generate_latest(scrape), content_type
        # OpenMetrics ends with "# EOF": one registry holding both
        both = CollectorRegistry(auto_describe=False)
        both.register(_Union(registry, scrape))
        return encoder(both), content_type


class _Snapshot(Collector):
    """Gauges read at scrape time: ``queue`` {state: count}, ``payouts`` [(state, channel, n)]."""

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        depths = self.snapshot.get("queue")
        if depths is not None:
            family = GaugeMetricFamily(
                "portal_queue_jobs", "Jobs in the queue, by state.", labels=["queue", "state"]
            )
            for state, count in sorted(depths["states"].items()):
                family.add_metric([depths["name"], state], count)
            yield family
        payouts = self.snapshot.get("payouts")
        if payouts is not None:
            family = GaugeMetricFamily(
                "portal_payouts", "Payouts, by state and channel.", labels=["state", "channel"]
            )
            for state, channel, count in payouts:
                family.add_metric([state, channel], count)
            yield family
        up = GaugeMetricFamily(
            "portal_scrape_source_up",
            "1 when a source read at scrape time answered (0: its gauges are missing).",
            labels=["source"],
        )
        for source in ("queue", "payouts"):
            up.add_metric([source], 0 if self.snapshot.get(source) is None else 1)
        yield up


class _Union(Collector):
    def __init__(self, *registries: CollectorRegistry) -> None:
        self.registries = registries

    def collect(self) -> Iterator[Metric]:
        for registry in self.registries:
            yield from registry.collect()
