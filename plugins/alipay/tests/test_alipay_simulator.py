"""The simulator on its own: its HTTP control API, its request checks, its command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from refund_portal_alipay import signing
from refund_portal_alipay.plugin import channel_from_settings

from portal.plugins.channels import ChannelServices, PaymentRef, RefundRequest, ResultStatus


def control(sim, path: str) -> str:
    return sim.url.replace("/gateway.do", path)


def test_http_control_api(sim, tmp_path):
    r = requests.post(
        control(sim, "/__sim__/trades"),
        json={"trade_no": "T-HTTP", "out_trade_no": "PAY-HTTP", "total_fen": 500},
        timeout=5,
    )
    assert r.status_code == 201
    channel = channel_from_settings(
        {"ALIPAY_GATEWAY_URL": sim.url}, ChannelServices(dev_keys_dir=str(tmp_path / "keys"))
    )
    payment = PaymentRef("alipay", "T-HTTP", "PAY-HTTP", 500)
    r = requests.post(
        control(sim, "/__sim__/misbehave"), json={"mode": "system_error", "times": 2}, timeout=5
    )
    assert r.json()["pending"] == {"system_error": 2}
    for _ in range(2):
        assert (
            channel.execute_refund(RefundRequest("H1", payment, 200)).status == ResultStatus.UNKNOWN
        )
    assert (
        channel.execute_refund(RefundRequest("H1", payment, 200)).status == ResultStatus.SUCCEEDED
    )
    ledger = requests.get(control(sim, "/__sim__/ledger"), timeout=5).json()
    assert ledger["movements"] == [
        {"trade_no": "T-HTTP", "out_request_no": "H1", "amount_fen": 200}
    ]
    assert {
        "trade_no": "T-HTTP",
        "out_trade_no": "PAY-HTTP",
        "total_fen": 500,
        "refunded_fen": 200,
    } in ledger["trades"]
    assert ledger["misbehaviour"] == {}

    requests.post(control(sim, "/__sim__/misbehave"), json={"mode": "system_error"}, timeout=5)
    assert requests.post(control(sim, "/__sim__/reset"), timeout=5).json() == {"ok": True}
    ledger = requests.get(control(sim, "/__sim__/ledger"), timeout=5).json()
    assert (ledger["trades"], ledger["movements"], ledger["misbehaviour"]) == ([], [], {})
    assert sim.movements() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/__sim__/misbehave", {"mode": "explode"}),
        ("/__sim__/misbehave", {"mode": "system_error", "times": 0}),
        ("/__sim__/misbehave", "not an object"),
        ("/__sim__/trades", {"trade_no": "T", "out_trade_no": "P", "total_fen": "12.5"}),
        ("/__sim__/trades", {"trade_no": "T", "out_trade_no": "P", "total_fen": -1}),
        ("/__sim__/trades", {"trade_no": "", "out_trade_no": "P", "total_fen": 1}),
    ],
)
def test_http_control_api_refuses_bad_input(sim, path, body):
    r = requests.post(control(sim, path), json=body, timeout=5)
    assert r.status_code == 400 and r.json()["error"]


def test_python_reset_forgets_queued_misbehaviour(sim, channel):
    sim.misbehave("system_error", times=3)
    sim.reset()
    sim.add_trade("2026112822001", "PAY-1", 10000)
    payment = PaymentRef("alipay", "2026112822001", "PAY-1", 10000)
    assert (
        channel.execute_refund(RefundRequest("R1", payment, 100)).status == ResultStatus.SUCCEEDED
    )


def _signed_params(keys: dict, private_pem: str, app_id: str | None = None) -> dict[str, str]:
    params = {
        "app_id": app_id or keys["ALIPAY_APP_ID"],
        "method": "alipay.trade.refund",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2026-11-28 12:00:00",
        "version": "1.0",
        "biz_content": json.dumps(
            {"trade_no": "2026112822001", "out_request_no": "X1", "refund_amount": "1.00"}
        ),
    }
    params["sign"] = signing.sign(signing.string_to_sign(params), signing.load_private(private_pem))
    return params


def _answer(resp: requests.Response) -> dict:
    return resp.json()["alipay_trade_refund_response"]


def test_gateway_refuses_requests_not_signed_by_the_app(sim):
    forged = _signed_params(sim.keys, sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])  # wrong key
    answer = _answer(requests.post(sim.url, data=forged, timeout=5))
    assert (answer["code"], answer["sub_code"]) == ("40002", "isv.invalid-signature")
    genuine = _signed_params(sim.keys, sim.keys["ALIPAY_APP_PRIVATE_KEY"])
    genuine["biz_content"] = genuine["biz_content"].replace("1.00", "9.00")  # tampered in transit
    answer = _answer(requests.post(sim.url, data=genuine, timeout=5))
    assert answer["sub_code"] == "isv.invalid-signature"
    other = _signed_params(sim.keys, sim.keys["ALIPAY_APP_PRIVATE_KEY"], app_id="2021999")
    assert (
        _answer(requests.post(sim.url, data=other, timeout=5))["sub_code"] == "isv.invalid-app-id"
    )
    assert sim.movements() == []


def test_gateway_takes_get_like_post_and_signs_its_answer(sim):
    params = _signed_params(sim.keys, sim.keys["ALIPAY_APP_PRIVATE_KEY"])
    resp = requests.get(sim.url, params=params, timeout=5)
    content = signing.response_content(resp.text, "alipay_trade_refund_response")
    public = signing.load_public(sim.keys["ALIPAY_PUBLIC_KEY"])
    assert content and signing.verify(content, resp.json()["sign"], public)
    assert json.loads(content)["fund_change"] == "Y"
    again = requests.post(sim.url, data=params, timeout=5).json()["alipay_trade_refund_response"]
    assert again["fund_change"] == "N" and again["refund_fee"] == "1.00"
    assert "send_back_fee" not in again
    assert len(sim.movements()) == 1


def test_command_line_serves_until_ctrl_c(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refund_portal_alipay.simulator",
            "--keys-dir",
            str(tmp_path),
            "--port",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("Alipay simulator on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].strip()
        assert url.endswith("/gateway.do")
        base = url.removesuffix("/gateway.do")
        r = requests.post(
            base + "/__sim__/trades",
            json={"trade_no": "T1", "out_trade_no": "P1", "total_fen": 100},
            timeout=5,
        )
        assert r.status_code == 201
        channel = channel_from_settings(
            {"ALIPAY_GATEWAY_URL": url}, ChannelServices(dev_keys_dir=str(tmp_path))
        )
        result = channel.execute_refund(
            RefundRequest("C1", PaymentRef("alipay", "T1", "P1", 100), 100)
        )
        assert result.status == ResultStatus.SUCCEEDED
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "stopped" in out and "Traceback" not in err
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            requests.get(base + "/__sim__/ledger", timeout=0.5)
        except requests.ConnectionError:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the simulator still answers after Ctrl-C")


def test_http_controls_for_notify_addresses_and_rotation(sim, tmp_path):
    r = requests.post(
        control(sim, "/__sim__/trades"),
        json={
            "trade_no": "T-N",
            "out_trade_no": "P-N",
            "total_fen": 100,
            "notify_url": "http://127.0.0.1:9/shop",
            "bank_card": True,
        },
        timeout=5,
    )
    assert r.status_code == 201
    trade = sim._sim["ledger"].trades["T-N"]
    assert (trade.notify_url, trade.bank_card) == ("http://127.0.0.1:9/shop", True)
    r = requests.post(control(sim, "/__sim__/app-gateway"), json={"url": "http://x/gw"}, timeout=5)
    assert r.json() == {"app_gateway_url": "http://x/gw"}
    r = requests.post(control(sim, "/__sim__/rotate"), timeout=5)  # plain-key mode: no certs
    assert r.status_code == 400 and "certificate mode" in r.json()["error"]


def test_command_line_serves_certificate_mode(tmp_path):
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "refund_portal_alipay.simulator",
            "--keys-dir",
            str(tmp_path),
            "--port",
            "0",
            "--cert-mode",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = proc.stdout.readline().split(" on ", 1)[1].strip()
        base = url.removesuffix("/gateway.do")
        requests.post(
            base + "/__sim__/trades",
            json={"trade_no": "T1", "out_trade_no": "P1", "total_fen": 100},
            timeout=5,
        )
        from refund_portal_alipay.devkeys import ensure_dev_certs, ensure_dev_keys

        keys = {**ensure_dev_keys(tmp_path), **ensure_dev_certs(tmp_path)}
        settings = {
            k: keys[k]
            for k in (
                "ALIPAY_APP_ID",
                "ALIPAY_APP_PRIVATE_KEY",
                "ALIPAY_APP_CERT",
                "ALIPAY_PUBLIC_CERT",
                "ALIPAY_ROOT_CERT",
            )
        }
        channel = channel_from_settings({**settings, "ALIPAY_GATEWAY_URL": url})
        payment = PaymentRef("alipay", "T1", "P1", 100)
        assert channel.execute_refund(RefundRequest("C1", payment, 100)).status == "succeeded"
        sn = requests.post(base + "/__sim__/rotate", timeout=5).json()["alipay_cert_sn"]
        assert sn not in channel.keys.keys
        assert channel.query_refund(RefundRequest("C1", payment, 100)).status == "succeeded"
        assert sn in channel.keys.keys  # downloaded, checked against the root, kept
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
