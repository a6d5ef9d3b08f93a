"""The simulator as a separate process, driven through its /__sim__ HTTP controls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
import requests

from portal.plugins.channels import ResultStatus


def _start(keys_dir: str, *extra: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refund_portal_wechat.simulator",
            "--keys-dir",
            keys_dir,
            "--port",
            str(port),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            requests.get(f"{url}/__sim__/ledger", timeout=1)
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"simulator did not start: {proc.stderr.read().decode()}")
            time.sleep(0.05)
    return proc, url


@pytest.fixture
def cli_sim(keys_dir):
    proc, url = _start(keys_dir)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.parametrize(("extra", "logged"), [((), True), (("--quiet",), False)])
def test_cli_simulator_logs_a_line_per_request_unless_quiet(keys_dir, extra, logged):
    proc, url = _start(keys_dir, *extra)
    try:
        for _ in range(3):
            requests.get(f"{url}/__sim__/ledger", timeout=5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert (err.decode().count("GET /__sim__/ledger") >= 3) is logged
    assert "WeChat Pay simulator on" in err.decode()


def test_cli_simulator_over_http_controls(cli_sim, make_channel, new_refund):
    from portal.plugins.channels import PaymentRef

    url = cli_sim
    trade = {"transaction_id": "4200CLI0001", "out_trade_no": "CLI-1", "total_fen": 500}
    assert requests.post(f"{url}/__sim__/trades", json=trade, timeout=5).status_code == 201
    bad = requests.post(f"{url}/__sim__/trades", json={"transaction_id": "x"}, timeout=5)
    assert bad.status_code == 400
    payment = PaymentRef("wechat", "4200CLI0001", "CLI-1", 500)
    channel = make_channel(url)

    resp = requests.post(f"{url}/__sim__/misbehave", json={"mode": "system_error"}, timeout=5)
    assert resp.status_code == 200
    nope = requests.post(f"{url}/__sim__/misbehave", json={"mode": "explode"}, timeout=5)
    assert nope.status_code == 400

    request = new_refund(payment, 200)
    assert channel.execute_refund(request).status is ResultStatus.UNKNOWN
    assert channel.execute_refund(request).status is ResultStatus.SUCCEEDED

    ledger = requests.get(f"{url}/__sim__/ledger", timeout=5).json()
    assert [m["amount_fen"] for m in ledger["movements"]] == [200]
    assert ledger["trades"][0]["refunded_fen"] == 200
    assert ledger["refunds"][0]["out_refund_no"] == request.idempotency_key
    assert ledger["misbehaviour"] == {}

    assert requests.post(f"{url}/__sim__/reset", timeout=5).status_code == 200
    ledger = requests.get(f"{url}/__sim__/ledger", timeout=5).json()
    assert ledger["trades"] == ledger["refunds"] == ledger["movements"] == []
    gone = channel.execute_refund(new_refund(payment, 100))
    assert gone.code == "RESOURCE_NOT_EXISTS"


def test_cli_simulator_in_certificate_mode_rotates_over_http(keys_dir, keys, make_channel):
    proc, url = _start(keys_dir, "--key-mode", "platform_cert", "--quiet")
    try:
        channel = make_channel(
            url,
            key_mode="platform_cert",
            platform_public_key=None,
            platform_public_key_id=None,
            trust_chain=keys["WECHAT_PLATFORM_CERT_CA"],
        )
        [first] = channel.keyring.refresh()
        rotated = requests.post(
            f"{url}/__sim__/keys", json={"action": "rotate_certificate"}, timeout=5
        ).json()["serial"]
        assert {c.serial for c in channel.keyring.refresh()} == {first.serial, rotated}
        retired = requests.post(
            f"{url}/__sim__/keys", json={"action": "retire_certificates"}, timeout=5
        ).json()["retired"]
        assert retired == [first.serial]
        assert [c.serial for c in channel.keyring.refresh()] == [rotated]
        bad = requests.post(f"{url}/__sim__/keys", json={"action": "explode"}, timeout=5)
        assert bad.status_code == 400
        bad = requests.post(
            f"{url}/__sim__/keys", json={"action": "notify_with", "choice": "x"}, timeout=5
        )
        assert bad.status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
