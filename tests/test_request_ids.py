"""Request ids: made per request (or taken from a trusted proxy's header, only when it is a
plain token), answered in ``X-Request-ID``, carried into the jobs a request enqueues (and the
jobs those enqueue), and written on every JSON log line of the request and of its jobs."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.runtime import set_app
from jobs.worker import NonForkingWorker
from portal.infra.queue import enqueue, queue
from tests import log_jobs

ROOT = Path(__file__).resolve().parent.parent
HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def enqueuing(app):
    """The app with one more route: it enqueues a job that records its ids."""

    def _enqueue() -> str:
        enqueue("tests.log_jobs.record", True)
        return "queued"

    app.add_url_rule("/test-enqueue", "test_enqueue", _enqueue)
    return app


def test_every_answer_carries_a_fresh_id(client):
    first = client.get("/").headers["X-Request-ID"]
    second = client.get("/no-such-page").headers["X-Request-ID"]
    assert HEX32.fullmatch(first) and HEX32.fullmatch(second) and first != second


def test_a_clients_id_is_ignored_unless_a_header_is_trusted(client):
    r = client.get("/healthz", headers={"X-Request-ID": "chosen-by-client"})
    assert HEX32.fullmatch(r.headers["X-Request-ID"])


def test_the_trusted_proxys_id_is_used(app, client):
    app.config["REQUEST_ID_HEADER"] = "X-Request-ID"
    r = client.get("/healthz", headers={"X-Request-ID": "f3a9c2e1-77b0.edge:1_z"})
    assert r.headers["X-Request-ID"] == "f3a9c2e1-77b0.edge:1_z"


@pytest.mark.parametrize(
    "hostile",
    [
        "",
        "a" * 129,
        "two words",
        "<script>alert(1)</script>",
        'x", "level": "CRITICAL',
        "-starts-with-dash",
        "../../etc/passwd",
        "id\u200bzero-width",
        "\u4e2d\u6587",
        "a%0d%0aSet-Cookie:x",
    ],
)
def test_a_hostile_id_from_the_trusted_header_is_replaced(app, client, hostile):
    app.config["REQUEST_ID_HEADER"] = "X-Request-ID"
    r = client.get("/healthz", headers={"X-Request-ID": hostile})
    assert r.status_code == 200
    assert HEX32.fullmatch(r.headers["X-Request-ID"])


def test_the_id_flows_into_the_job_and_the_jobs_it_enqueues(enqueuing, client):
    log_jobs.SEEN.clear()
    r = client.get("/test-enqueue")
    request_id = r.headers["X-Request-ID"]
    [job] = queue().jobs
    assert job.meta["request_id"] == request_id
    set_app(enqueuing)
    q = queue()
    NonForkingWorker([q], connection=q.connection).work(burst=True)
    assert len(log_jobs.SEEN) == 2  # the job, then the one it enqueued
    (first_rid, first_job), (second_rid, second_job) = log_jobs.SEEN
    assert first_rid == second_rid == request_id
    assert first_job == job.id and second_job not in (None, job.id)


def test_a_hostile_id_in_a_jobs_meta_is_not_bound(enqueuing):
    log_jobs.SEEN.clear()
    q = queue()
    jobs = [
        q.enqueue("tests.log_jobs.record", meta={"request_id": hostile})
        for hostile in ('x"\n{"forged": 1}', 12345, ["a"], "a" * 129)
    ]
    set_app(enqueuing)
    NonForkingWorker([q], connection=q.connection).work(burst=True)
    assert log_jobs.SEEN == [(None, job.id) for job in jobs]


# a fresh interpreter with LOG_FORMAT=json: one request enqueues a job; a forking worker
# (the job in a work-horse) runs it; every line on stderr is one JSON object
JSON_RUN = r"""
import json, sys
from portal import create_app
from portal.infra.queue import enqueue, queue
from portal.plugins.manager import make_plugin_manager
from jobs.runtime import set_app
from jobs.worker import ForkingWorker
config = json.loads(sys.argv[1])
app = create_app({**config, "PLUGIN_MANAGER": make_plugin_manager()})

@app.get("/test-enqueue")
def _enqueue():
    app.logger.warning("a line written by the request")
    enqueue("tests.log_jobs.record")
    return "queued"

client = app.test_client()
r = client.get("/test-enqueue", headers={"X-Request-ID": "edge-7f3a"})
client.get("/orders/SECRET-ORDER-NO")
client.get("/orders/x?q=%01")  # refused by an early hook: still one request event
set_app(app)
with app.app_context():
    q = queue()
    ForkingWorker([q], connection=q.connection).work(burst=True)
print(json.dumps([r.headers["X-Request-ID"], r.status_code]))
"""


def test_json_logs_one_event_per_line_with_the_request_and_job_ids(app):
    config = {
        "SECRET_KEY": "test-secret",
        "ENVIRONMENT": "development",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": app.config["REDIS_URL"],
        "EVIDENCE_DIR": app.config["EVIDENCE_DIR"],
        "LOG_FORMAT": "json",
        "REQUEST_ID_HEADER": "X-Request-ID",
    }
    out = subprocess.run(
        [sys.executable, "-c", JSON_RUN, json.dumps(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["edge-7f3a", 200]
    events = [json.loads(line) for line in out.stderr.splitlines()]  # every line is JSON
    assert all({"level", "logger", "message", "timestamp"} <= e.keys() for e in events)
    requests = [e for e in events if e["message"] == "request"]
    assert [(e["route"], e["status"]) for e in requests] == [
        ("/test-enqueue", 200),
        ("/orders/<order_no>", 303),
        ("/orders/<order_no>", 400),
    ]
    assert "SECRET-ORDER-NO" not in out.stderr
    [request_line] = [e for e in events if e["message"] == "a line written by the request"]
    assert request_line["request_id"] == "edge-7f3a"
    [job_line] = [e for e in events if e["message"] == "a line written by the job"]
    assert job_line["request_id"] == "edge-7f3a" and job_line["job_id"]
    # RQ's own lines about the job, written while it ran, carry the ids too
    during = [e for e in events if e.get("job_id") == job_line["job_id"]]
    assert all(e["request_id"] == "edge-7f3a" for e in during)
