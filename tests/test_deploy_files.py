"""The files in ``deploy/`` work: the Grafana dashboard asks only for metrics the portal
exports, the systemd units pass ``systemd-analyze verify``, and ``deploy/gunicorn.conf.py``
serves the portal under real gunicorn workers whose metrics add up in multi-process mode."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from prometheus_client import REGISTRY

from portal.infra import metrics
from portal.infra.metric_families import _Snapshot
from tests.live import wait_for

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SUFFIXES = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",), "gauge": ("",)}


def _exported() -> set[str]:
    metrics.enable()
    snapshot = _Snapshot({"queue": {"name": "portal", "states": {}}, "payouts": []})
    families = [*REGISTRY.collect(), *snapshot.collect()]
    return {
        family.name + suffix
        for family in families
        if family.name.startswith("portal_")
        for suffix in SUFFIXES[family.type]
    }


def test_the_dashboard_asks_only_for_exported_metrics():
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 12
    asked = {name for e in exprs for name in re.findall(r"\bportal_[a-z_]+", e)}
    assert asked - _exported() == set()
    # every metric the portal exports is on the dashboard
    assert {n.removesuffix("_bucket") for n in _exported() if n.endswith("_bucket")} <= {
        n.removesuffix("_bucket") for n in asked
    }
    for e in exprs:
        assert e.count("(") == e.count(")") and e.count("{") == e.count("}")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_the_systemd_units_verify(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("gunicorn", "refund-portal"):  # the installed commands, stand-ins here
        (bin_dir / name).write_text("#!/bin/sh\n")
        (bin_dir / name).chmod(0o755)
    units = []
    for unit in sorted((DEPLOY / "systemd").iterdir()):
        text = unit.read_text().replace("/opt/refund-portal/.venv/bin", str(bin_dir))
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        units.append(str(tmp_path / name))
    assert len(units) == 3
    out = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr


@pytest.mark.slow
def test_gunicorn_conf_serves_with_metrics_added_up_over_workers(app, tmp_path):
    port = _free_port()
    folder = tmp_path / "prometheus"
    folder.mkdir()
    (folder / "counter_999999.db").write_bytes(b"stale")  # a previous run's: removed at start
    token = "deploy-test-" + "t" * 32
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(
        PORTAL_SECRET_KEY="test-secret",
        PORTAL_ENVIRONMENT="development",
        PORTAL_DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
        PORTAL_REDIS_URL=app.config["REDIS_URL"],
        PORTAL_EVIDENCE_DIR=str(tmp_path / "evidence"),
        PORTAL_METRICS_TOKEN=token,
        PORTAL_LOG_FORMAT="json",
        PORTAL_BIND=f"127.0.0.1:{port}",
        PORTAL_WEB_WORKERS="2",
        PROMETHEUS_MULTIPROC_DIR=str(folder),
    )
    log = tmp_path / "gunicorn.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(DEPLOY / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(base + "/healthz"), 120, "gunicorn answers")
        wait_for(lambda: len(list(folder.glob("histogram_*.db"))) >= 1, 30, "a worker counted")
        for _ in range(40):  # spread over both workers by the kernel
            assert requests.get(base + "/healthz", timeout=10).status_code == 200
        ready = requests.get(base + "/readyz", timeout=10)
        assert ready.status_code == 200, ready.text + log.read_text()[-3000:]
        body = requests.get(
            base + "/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
        ).text
    finally:
        proc.terminate()
        proc.wait(30)
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("portal_http_request_duration_seconds_count")
        and 'route="/healthz"' in line
    ]
    # every /healthz answered (the readiness polls included), whichever worker answered it
    assert sum(counted) >= 41
    assert not (folder / "counter_999999.db").exists()
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert any(json.loads(line).get("route") == "/readyz" for line in lines)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).status_code == 200
    except requests.RequestException:
        return False
