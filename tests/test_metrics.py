"""Prometheus metrics at ``/metrics``: behind a bearer token, off (and not loaded) without one,
latency by route rule (never by raw path), jobs by queue and outcome through a real RQ
worker, queue depth and payouts read at scrape time, the sweep's duration and lag, and
notice and webhook delivery failures from real failed deliveries."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from jobs import sweeps
from jobs.runtime import set_app
from jobs.worker import NonForkingWorker
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra import metrics
from portal.infra.queue import queue
from portal.models import Notice, WebhookDelivery
from portal.services.actors import Actor
from portal.services.integration import webhooks
from portal.services.messaging import delivery
from portal.services.refunds import cases
from tests import factories as f
from tests.test_webhooks import Receiver, cancelled_order

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "scrape-" + "x" * 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def metered(app):
    app.config["METRICS_TOKEN"] = TOKEN
    metrics.install(app)
    return app


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(client) -> str:
    r = client.get("/metrics", headers=AUTH)
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    return r.get_data(as_text=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong", f"Bearer {TOKEN}x", f"bearer{TOKEN}", TOKEN, "Bearer \u00e9\u00e9"],
)
def test_metrics_need_the_token(metered, client, header):
    r = client.get("/metrics", headers={"Authorization": header} if header else {})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "portal_" not in r.get_data(as_text=True)


def test_metrics_are_off_without_a_token(app, client):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


# a fresh interpreter: the app built and pages served without a token load no exporter
LAZY = r"""
import json, sys
from portal import create_app
from portal.plugins.manager import make_plugin_manager
config = json.loads(sys.argv[1])
app = create_app({**config, "PLUGIN_MANAGER": make_plugin_manager()})
client = app.test_client()
statuses = [client.get(u).status_code for u in ("/", "/healthz", "/metrics")]
print(json.dumps([statuses, "prometheus_client" in sys.modules]))
"""


def test_without_a_token_prometheus_client_is_not_loaded(app):
    config = {
        "SECRET_KEY": "test-secret",
        "ENVIRONMENT": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "EVIDENCE_DIR": app.config["EVIDENCE_DIR"],
    }
    out = subprocess.run(
        [sys.executable, "-c", LAZY, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [[200, 200, 404], False]


def test_latency_is_labelled_by_route_rule_not_path(metered, client, clock):
    for order_no in ("NOSUCH-1", "NOSUCH-2", "NOSUCH-3"):
        client.get(f"/orders/{order_no}")
    client.get("/no/such/page/12345")
    client.open("/healthz", method="BREW")
    body = scrape(client)
    lines = [
        line for line in body.splitlines() if "portal_http_request_duration_seconds_count" in line
    ]
    order_lines = [line for line in lines if 'route="/orders/<order_no>"' in line]
    assert order_lines and sum(float(line.rsplit(" ", 1)[1]) for line in order_lines) == 3
    assert "NOSUCH" not in body and "12345" not in body
    assert any('route="unmatched"' in line and 'status="404"' in line for line in lines)
    assert any('method="other"' in line for line in lines)
    assert "BREW" not in body


def test_jobs_are_counted_by_queue_and_outcome(metered, client):
    succeeded = value("portal_jobs_total", queue="portal", job="os.getpid", outcome="succeeded")
    failed = value("portal_jobs_total", queue="portal", job="math.sqrt", outcome="failed")
    q = queue()
    q.enqueue("os.getpid")
    q.enqueue("os.getpid")
    q.enqueue("math.sqrt", -1)  # ValueError: math domain error
    body = scrape(client)
    assert 'portal_queue_jobs{queue="portal",state="queued"} 3.0' in body
    set_app(metered)
    NonForkingWorker([q], connection=q.connection).work(burst=True)
    assert value("portal_jobs_total", queue="portal", job="os.getpid", outcome="succeeded") == (
        succeeded + 2
    )
    assert value("portal_jobs_total", queue="portal", job="math.sqrt", outcome="failed") == (
        failed + 1
    )
    body = scrape(client)
    assert 'portal_queue_jobs{queue="portal",state="queued"} 0.0' in body
    assert 'portal_queue_jobs{queue="portal",state="failed"} 1.0' in body
    assert 'portal_scrape_source_up{source="queue"} 1.0' in body


def test_payouts_by_state_and_channel(metered, client, clock):
    reviewer = Actor(Role.REVIEWER, f.staff("metrics-rev").id, "R")
    for _ in range(2):
        order = f.order(clock())
        case = cases.apply_for_refund(
            order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "x")
        )
        cases.approve(case, reviewer, None, "ok")
    body = scrape(client)
    assert re.search(r'portal_payouts\{channel="fakepay",state="\w+"\} 2\.0', body), body[-1500:]
    set_app(metered)
    q = queue()
    NonForkingWorker([q], connection=q.connection).work(burst=True)
    assert 'portal_payouts{channel="fakepay",state="succeeded"} 2.0' in scrape(client)


def test_a_scrape_without_redis_still_answers(metered, client):
    metered.config["REDIS_URL"] = f"redis://127.0.0.1:{_free_port()}/0"
    metered.extensions.pop("portal.redis", None)
    body = scrape(client)
    assert 'portal_scrape_source_up{source="queue"} 0.0' in body
    assert 'portal_scrape_source_up{source="payouts"} 1.0' in body
    assert "portal_http_request_duration_seconds" in body


def test_the_sweep_reports_its_duration_and_lag(metered, client, clock, monkeypatch):
    from jobs import runtime

    monkeypatch.setattr(runtime, "_app", metered)  # the job runs on this test's app
    runs = value("portal_sweep_duration_seconds_count")
    due = (clock() - timedelta(seconds=42)).timestamp()
    sweeps.sweep(reschedule=True, due=due)
    assert value("portal_sweep_duration_seconds_count") == runs + 1
    assert value("portal_sweep_lag_seconds") == pytest.approx(42)
    assert value("portal_sweep_last_run_timestamp_seconds") > 0
    # the next sweep is scheduled with the time it is due, to measure its own lag
    [job] = [j for j in (queue().scheduled_job_registry.get_job_ids()) if j.startswith("sweep-")]
    from rq.job import Job

    args = Job.fetch(job, connection=queue().connection).args
    next_minute = (int(clock().timestamp()) // 60 + 1) * 60
    assert args == (True, float(next_minute))


def test_a_failed_mail_notice_is_counted(metered, clock):
    metered.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port(), MAIL_TIMEOUT=2)
    before = value("portal_notice_delivery_failures_total", channel="mail")
    order = f.order(clock())
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 10000, "x")
    )
    cases.reject(case, Actor(Role.REVIEWER, f.staff("m-rev").id, "R"), "No proof")
    notice = db.session.scalars(select(Notice).where(Notice.audience == "buyer")).one()
    with pytest.raises(delivery.DeliveryFailed):
        delivery.deliver(notice.id)
    assert value("portal_notice_delivery_failures_total", channel="mail") == before + 1


@pytest.fixture
def receiver(app):
    app.config["WEBHOOKS_ALLOW_LOCAL"] = True  # the receiver listens on 127.0.0.1
    r = Receiver()
    yield r
    r.server.shutdown()


def test_failed_webhook_deliveries_are_counted_by_reason(metered, client, receiver):
    http_before = value("portal_webhook_delivery_failures_total", reason="http")
    connect_before = value("portal_webhook_delivery_failures_total", reason="connect")
    receiver.status = 500
    cancelled_order(client, receiver)
    first = db.session.scalar(select(WebhookDelivery).order_by(WebhookDelivery.id))
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(first.id)
    assert value("portal_webhook_delivery_failures_total", reason="http") == http_before + 1
    receiver.server.shutdown()
    receiver.server.server_close()
    with pytest.raises(webhooks.WebhookFailed):
        webhooks.deliver(first.id)
    assert value("portal_webhook_delivery_failures_total", reason="connect") == connect_before + 1
    assert 'portal_webhook_delivery_failures_total{reason="connect"}' in scrape(client)


# one process of several (gunicorn workers, RQ workers) sharing PROMETHEUS_MULTIPROC_DIR
PROCESS = r"""
import json, sys
from portal import create_app
from portal.plugins.manager import make_plugin_manager
config, requests, token = json.loads(sys.argv[1])
app = create_app({**config, "METRICS_TOKEN": token, "PLUGIN_MANAGER": make_plugin_manager()})
client = app.test_client()
for _ in range(requests):
    assert client.get("/healthz").status_code == 200
if requests == 0:
    r = client.get("/metrics", headers={"Authorization": "Bearer " + token})
    print(r.get_data(as_text=True))
"""


@pytest.mark.slow
def test_multiprocess_mode_adds_up_every_process(app, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    config = {
        "SECRET_KEY": "test-secret",
        "ENVIRONMENT": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "EVIDENCE_DIR": app.config["EVIDENCE_DIR"],
    }
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(folder)}

    def run(requests: int) -> str:
        return subprocess.run(
            [sys.executable, "-c", PROCESS, json.dumps([config, requests, TOKEN])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    run(3)
    run(4)
    body = run(0)  # a third process answers the scrape
    [line] = [
        line
        for line in body.splitlines()
        if line.startswith("portal_http_request_duration_seconds_count")
        and 'route="/healthz"' in line
    ]
    assert float(line.rsplit(" ", 1)[1]) == 7


def test_the_metrics_server_serves_metrics_alone(metered):
    import threading

    import requests

    from portal.infra.metrics_server import server

    srv = server(metered, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_port}"
    try:
        r = requests.get(base + "/metrics", headers=AUTH, timeout=10)
        assert r.status_code == 200 and "portal_scrape_source_up" in r.text
        assert requests.get(base + "/metrics", timeout=10).status_code == 401
        for path in ("/", "/healthz", "/staff/login", "/metrics/"):
            assert requests.get(base + path, headers=AUTH, timeout=10).status_code == 404
    finally:
        srv.shutdown()
