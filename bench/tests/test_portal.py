"""The settlement bench's portal: served by gunicorn as the README deploys it, and stopped."""

from __future__ import annotations

import psutil
import pytest
import requests

from bench.stack import free_port, gunicorn_portal
from tests.live import worker_env


@pytest.mark.slow
def test_gunicorn_serves_the_portal_with_its_workers_and_stops_them(app, tmp_path):
    port = free_port()
    env = worker_env(
        app,
        {
            "PORTAL_DEV_KEYS_DIR": str(tmp_path / "keys"),
            "PORTAL_WECHAT_GATEWAY_URL": "http://127.0.0.1:9",
        },
    )
    with gunicorn_portal(env, port, workers=2) as pids:
        assert len(pids) == 3  # the master and its two workers
        assert psutil.Process(pids[0]).children() and all(psutil.pid_exists(p) for p in pids)
        home = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert home.status_code == 200
        # the route the gateway notifies: an unsigned body is refused, not crashed on
        forged = requests.post(f"http://127.0.0.1:{port}/callbacks/wechat", data=b"{}", timeout=10)
        assert forged.status_code == 400
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != "zombie" for p in pids)
