"""``refund-portal check-channels`` against the Alipay simulator over real HTTP.

The channels are loaded as the portal loads them (plugins by entry point, settings from the
configuration): a good configuration in public-key and in certificate mode passes (exit 0);
a private key that is not the app's fails naming the signature, a wrong Alipay public key
fails naming it, an unreachable gateway fails naming the network, with no traceback; the
bank channel says it made no call and which settings it still needs; a channel without a
check is listed, not failed; a check that raises is reported, not raised.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from refund_portal_alipay.simulator import AlipaySimulator

from portal.plugins.startup import init_plugins
from portal.services.money.channel_checks import check_channel
from tests.conftest import csrf_from
from tests.fakes import FakeChannel, FakeGateway

BANK = {
    "BANK_DEBTOR_NAME": "Example Shop Ltd",
    "BANK_DEBTOR_ACCOUNT": "6212260200000000001",
    "BANK_DEBTOR_AGENT": "ICBKCNBJ",
}


def _pem_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sim(tmp_path):
    with AlipaySimulator(tmp_path / "keys", hang_s=2) as s:
        yield s


@pytest.fixture
def cert_sim(tmp_path):
    with AlipaySimulator(tmp_path / "certkeys", hang_s=2, cert_mode=True) as s:
        yield s


def public_key_mode(sim: AlipaySimulator) -> dict[str, str]:
    return {
        "ALIPAY_APP_ID": sim.keys["ALIPAY_APP_ID"],
        "ALIPAY_APP_PRIVATE_KEY": sim.keys["ALIPAY_APP_PRIVATE_KEY"],
        "ALIPAY_PUBLIC_KEY": sim.keys["ALIPAY_PUBLIC_KEY"],
        "ALIPAY_GATEWAY_URL": sim.url,
        "ALIPAY_TIMEOUT": "2",
    }


def certificate_mode(sim: AlipaySimulator) -> dict[str, str]:
    return {
        "ALIPAY_APP_ID": sim.keys["ALIPAY_APP_ID"],
        "ALIPAY_APP_PRIVATE_KEY": sim.keys["ALIPAY_APP_PRIVATE_KEY"],
        "ALIPAY_APP_CERT": sim.keys["ALIPAY_APP_CERT"],
        "ALIPAY_PUBLIC_CERT": sim.keys["ALIPAY_PUBLIC_CERT"],
        "ALIPAY_ROOT_CERT": sim.keys["ALIPAY_ROOT_CERT"],
        "ALIPAY_GATEWAY_URL": sim.url,
        "ALIPAY_TIMEOUT": "2",
    }


def run(app, settings: dict[str, str], *args: str):
    """Configure the portal with ``settings``, load its channels as start-up does, run the
    command in this process."""
    app.config.update(settings)
    init_plugins(app)
    return app.test_cli_runner().invoke(args=["check-channels", *args])


def line_of(output: str, channel_id: str) -> str:
    marks = (f"({channel_id}):", f"（{channel_id}）：")
    lines = [line for line in output.splitlines() if any(m in line for m in marks)]
    assert len(lines) == 1, output
    return lines[0]


def test_good_public_key_configuration_passes(app, sim):
    result = run(app, {**public_key_mode(sim), **BANK}, "--language", "en")
    assert result.exit_code == 0, result.output
    alipay = line_of(result.output, "alipay")
    assert alipay.startswith("Alipay (alipay): OK:")
    assert "verified with the Alipay public key" in alipay
    assert "ACQ.TRADE_NOT_EXIST" in alipay  # the gateway's own answer, shown as its detail
    assert "0 of" in result.output


def test_good_certificate_configuration_passes_in_chinese(app, cert_sim):
    result = run(app, {**certificate_mode(cert_sim), **BANK})
    assert result.exit_code == 0, result.output
    alipay = line_of(result.output, "alipay")
    assert alipay.startswith("支付宝（alipay）：正常：")
    assert "支付宝公钥证书" in alipay


def test_a_private_key_that_is_not_the_apps_fails_naming_the_signature(app, sim):
    settings = {**public_key_mode(sim), **BANK, "ALIPAY_APP_PRIVATE_KEY": _pem_key()}
    result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    alipay = line_of(result.output, "alipay")
    assert "PROBLEM" in alipay
    assert "refused the request's signature" in alipay
    assert "ALIPAY_APP_PRIVATE_KEY" in alipay
    assert "isv.invalid-signature" in alipay
    assert "1 of" in result.output


def test_a_wrong_alipay_public_key_fails_naming_it(app, sim):
    # the classic mistake: the app's own public key pasted as Alipay's
    settings = {**public_key_mode(sim), **BANK}
    settings["ALIPAY_PUBLIC_KEY"] = _public_pem(sim.keys["ALIPAY_APP_PRIVATE_KEY"])
    result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    alipay = line_of(result.output, "alipay")
    assert "failed verification" in alipay and "ALIPAY_PUBLIC_KEY" in alipay


def test_a_wrong_app_id_fails_naming_it(app, sim):
    settings = {**public_key_mode(sim), **BANK, "ALIPAY_APP_ID": "2021999999999999"}
    result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    alipay = line_of(result.output, "alipay")
    assert "does not know app 2021999999999999" in alipay
    assert "isv.invalid-app-id" in alipay


def test_certificate_mode_after_alipay_rotated_its_certificate_still_passes(app, cert_sim):
    # Alipay signs with a certificate not configured yet: fetched, checked against the
    # root certificates, and the answer verified with it
    cert_sim.rotate()
    result = run(app, {**certificate_mode(cert_sim), **BANK}, "--language", "en")
    assert result.exit_code == 0, result.output
    assert "OK:" in line_of(result.output, "alipay")


def test_an_unreachable_gateway_fails_naming_the_network_without_a_traceback(app, sim):
    url = f"http://127.0.0.1:{_closed_port()}/gateway.do"
    settings = {**public_key_mode(sim), **BANK, "ALIPAY_GATEWAY_URL": url}
    result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    alipay = line_of(result.output, "alipay")
    assert f"cannot reach the Alipay gateway {url}" in alipay
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # the exit status, nothing raised


def test_a_gateway_that_does_not_answer_in_time_fails_naming_the_timeout(app, sim):
    # a listening socket that never answers: the connection opens, no answer comes
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/gateway.do"
        settings = {**public_key_mode(sim), **BANK, "ALIPAY_GATEWAY_URL": url}
        settings["ALIPAY_TIMEOUT"] = "0.5"
        result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    assert "no answer from the Alipay gateway" in line_of(result.output, "alipay")


def test_an_address_that_is_not_alipay_fails_naming_the_gateway_setting(app, sim):
    url = sim.url.replace("/gateway.do", "/__sim__/ledger")  # answers JSON, not Alipay's
    settings = {**public_key_mode(sim), **BANK, "ALIPAY_GATEWAY_URL": url}
    result = run(app, settings, "--language", "en")
    assert result.exit_code == 1, result.output
    assert "is not an Alipay gateway's" in line_of(result.output, "alipay")


def test_the_bank_channel_says_it_made_no_call(app):
    result = run(app, BANK, "--language", "en")
    bank = line_of(result.output, "bank")
    assert bank.startswith("Bank card (bank): OK: No call made")
    assert "6212***********0001" in bank and "CSV and pain.001" in bank
    # the test's fake channel has no check: listed, not failed
    assert "cannot be checked" in line_of(result.output, "fakepay")
    assert result.exit_code == 0, result.output


def test_the_bank_channel_left_at_the_demo_placeholders_fails(app):
    result = run(app, {}, "--language", "en")
    assert result.exit_code == 1, result.output
    bank = line_of(result.output, "bank")
    assert "PROBLEM: No call made" in bank
    assert "BANK_DEBTOR_ACCOUNT" in bank and "demo's placeholders" in bank


def test_a_check_that_raises_is_reported_not_raised():
    class Raising(FakeChannel):
        def check_connection(self):
            raise RuntimeError("boom")

    class Lying(FakeChannel):
        def check_connection(self):
            return "fine"

    raised = check_channel(Raising(FakeGateway()))
    assert raised.outcome == "broken" and "RuntimeError: boom" in raised.detail
    assert check_channel(Lying(FakeGateway())).outcome == "broken"


def test_the_installed_command_reads_the_configuration_like_the_portal(tmp_path, sim):
    """The real ``refund-portal check-channels`` process, configured by PORTAL_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update({f"PORTAL_{k}": v for k, v in {**public_key_mode(sim), **BANK}.items()})
    env.update(
        PORTAL_ENVIRONMENT="development",
        PORTAL_INSTANCE_PATH=str(tmp_path / "instance"),
        PORTAL_DATABASE_URL=f"sqlite:///{tmp_path}/portal.sqlite3",
        PORTAL_REDIS_URL="",
    )
    args = [sys.executable, "-m", "portal.cli", "check-channels", "--language", "en"]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert line_of(done.stdout, "alipay").startswith("Alipay (alipay): OK:")
    env["PORTAL_ALIPAY_GATEWAY_URL"] = f"http://127.0.0.1:{_closed_port()}/gateway.do"
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "cannot reach the Alipay gateway" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_supervisors_check_the_connections_from_the_settings_page(app, browser, sim):
    from tests.test_plugin_admin import login

    app.config.update({**public_key_mode(sim), **BANK})
    init_plugins(app)
    login(browser, "sup-check", "supervisor")
    page = browser.get("/review/plugins/settings").get_data(as_text=True)
    assert 'action="/review/plugins/settings/check-channels"' in page  # a plain form
    r = browser.submit("/review/plugins/settings", "/review/plugins/settings/check-channels", {})
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "verified with the Alipay public key" in html
    assert "ACQ.TRADE_NOT_EXIST" in html and "No call made" in html
    assert "Cannot be checked" in html  # the test's fake channel
    zh = browser.client.post(
        "/review/plugins/settings/check-channels",
        data={"csrf_token": csrf_from(page)},
        headers={"Accept-Language": "zh-CN"},
    ).get_data(as_text=True)
    assert "支付宝接受了应用" in zh and "无法检查" in zh


def test_reviewers_cannot_run_the_checks_nor_a_post_without_its_token(app, browser, sim):
    from tests.test_plugin_admin import login

    app.config.update({**public_key_mode(sim), **BANK})
    init_plugins(app)
    login(browser, "rev-check", "reviewer")
    token = csrf_from(browser.get("/review/").get_data(as_text=True))
    r = browser.client.post("/review/plugins/settings/check-channels", data={"csrf_token": token})
    assert r.status_code == 403
    assert "verified" not in r.get_data(as_text=True)
    login(browser, "sup-check2", "supervisor")
    r = browser.client.post("/review/plugins/settings/check-channels")
    assert r.status_code == 400
    assert "verified" not in r.get_data(as_text=True)
