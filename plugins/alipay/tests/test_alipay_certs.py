"""Public-key certificate mode: serial numbers as Alipay defines them, checked against code we
did not write (python-alipay-sdk's DCAliPay, on pyOpenSSL) and against the documented
algorithm by hand; requests and answers in certificate mode; Alipay's certificate chosen by
``alipay_cert_sn``, with two live during a rotation."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re

import pytest
from alipay import DCAliPay
from cryptography import x509
from refund_portal_alipay import certs, signing
from refund_portal_alipay.devkeys import ensure_dev_certs, ensure_dev_keys
from refund_portal_alipay.plugin import channel_from_settings
from refund_portal_alipay.simulator import AlipaySimulator

from portal.plugins.channels import (
    ChannelError,
    PaymentRef,
    RefundRequest,
    ResultStatus,
)

PAYMENT = PaymentRef("alipay", "2026112822001", "PAY-1", 10000)


@pytest.fixture
def keys(tmp_path):
    return {**ensure_dev_keys(tmp_path / "keys"), **ensure_dev_certs(tmp_path / "keys")}


@pytest.fixture
def csim(tmp_path):
    with AlipaySimulator(tmp_path / "keys", hang_s=3, late_s=0.5, cert_mode=True) as s:
        s.add_trade("2026112822001", "PAY-1", 10000)
        yield s


def cert_settings(keys, sim_url: str, public: str | None = None) -> dict[str, str]:
    return {
        "ALIPAY_APP_ID": keys["ALIPAY_APP_ID"],
        "ALIPAY_APP_PRIVATE_KEY": keys["ALIPAY_APP_PRIVATE_KEY"],
        "ALIPAY_GATEWAY_URL": sim_url,
        "ALIPAY_APP_CERT": keys["ALIPAY_APP_CERT"],
        "ALIPAY_PUBLIC_CERT": public or keys["ALIPAY_PUBLIC_CERT"],
        "ALIPAY_ROOT_CERT": keys["ALIPAY_ROOT_CERT"],
        "ALIPAY_TIMEOUT": "2",
    }


def cert_channel(keys, sim_url: str, public: str | None = None):
    return channel_from_settings(cert_settings(keys, sim_url, public))


def test_cert_sn_is_md5_of_issuer_and_decimal_serial(keys):
    intermediate = x509.load_pem_x509_certificates(keys["ALIPAY_PUBLIC_CERT"].encode())[1]
    app = x509.load_pem_x509_certificate(keys["ALIPAY_APP_CERT"].encode())
    # the documented algorithm, written out: issuer most specific first, then the serial
    issuer = "CN=Simulated Alipay Class 2 R1,OU=Certification Authority,O=Refund Portal Dev,C=CN"
    assert app.issuer == intermediate.subject
    expected = hashlib.md5((issuer + str(app.serial_number)).encode()).hexdigest()
    assert certs.cert_sn(app) == expected


def test_sns_agree_with_python_alipay_sdk(keys):
    app = certs.load_certs(keys["ALIPAY_APP_CERT"])[0]
    assert certs.cert_sn(app) == DCAliPay.get_cert_sn(keys["ALIPAY_APP_CERT"])
    alipay_leaf = certs.load_certs(keys["ALIPAY_PUBLIC_CERT"])[0]
    assert certs.cert_sn(alipay_leaf) == DCAliPay.get_cert_sn(keys["ALIPAY_PUBLIC_CERT"])
    roots = certs.load_certs(keys["ALIPAY_ROOT_CERT"])
    assert len(roots) == 2  # an RSA root and an EC root (standing for Alipay's SM2 root)
    ours = certs.root_cert_sn(roots)
    assert ours == DCAliPay.get_root_cert_sn(keys["ALIPAY_ROOT_CERT"])
    assert ours == certs.cert_sn(roots[0])  # only the RSA-signed root counts: no "_"


def test_root_sn_joins_every_rsa_signed_root_with_underscores(keys):
    rsa_root, ec_root = certs.load_certs(keys["ALIPAY_ROOT_CERT"])
    assert certs.root_cert_sn([rsa_root, ec_root, rsa_root]) == "_".join(
        [certs.cert_sn(rsa_root)] * 2
    )
    with pytest.raises(ValueError, match="no RSA-signed"):
        certs.root_cert_sn([ec_root])


def test_refund_and_query_in_certificate_mode(keys, csim, monkeypatch):
    channel = cert_channel(keys, csim.url)
    sent = {}
    real = channel._http.request

    def spy(method, path, body, headers):
        from urllib.parse import parse_qsl

        sent.update(parse_qsl(body.decode()))
        return real(method, path, body, headers)

    monkeypatch.setattr(channel._http, "request", spy)
    r = channel.execute_refund(RefundRequest("C1", PAYMENT, 1234))
    assert r.status == ResultStatus.SUCCEEDED and r.amount_fen == 1234
    assert sent["app_cert_sn"] == DCAliPay.get_cert_sn(keys["ALIPAY_APP_CERT"])
    assert sent["alipay_root_cert_sn"] == DCAliPay.get_root_cert_sn(keys["ALIPAY_ROOT_CERT"])
    q = channel.query_refund(RefundRequest("C1", PAYMENT, 1234))
    assert q.status == ResultStatus.SUCCEEDED and q.amount_fen == 1234
    assert len(csim.movements()) == 1


def test_gateway_refuses_a_wrong_app_cert_sn(keys, csim):
    import requests

    params = {
        "app_id": keys["ALIPAY_APP_ID"],
        "method": "alipay.trade.refund",
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": "2026-11-28 12:00:00",
        "version": "1.0",
        "app_cert_sn": "0" * 32,
        "alipay_root_cert_sn": certs.root_cert_sn(certs.load_certs(keys["ALIPAY_ROOT_CERT"])),
        "biz_content": json.dumps(
            {"trade_no": "2026112822001", "out_request_no": "X1", "refund_amount": "1.00"}
        ),
    }
    private = signing.load_private(keys["ALIPAY_APP_PRIVATE_KEY"])
    params["sign"] = signing.sign(signing.string_to_sign(params), private)
    answer = requests.post(csim.url, data=params, timeout=5).json()
    assert answer["alipay_trade_refund_response"]["sub_code"] == "isv.invalid-app_cert_sn"
    assert csim.movements() == []


def test_answers_are_verified_with_the_certificate_they_name_through_a_rotation(keys, csim):
    both = keys["ALIPAY_PUBLIC_CERT"] + keys["ALIPAY_PUBLIC_CERT_NEXT"]
    rotating = cert_channel(keys, csim.url, both)
    assert rotating.execute_refund(RefundRequest("R1", PAYMENT, 100)).status == "succeeded"
    new_sn = csim.rotate()
    assert new_sn == certs.cert_sn(certs.load_certs(keys["ALIPAY_PUBLIC_CERT_NEXT"])[0])
    assert rotating.execute_refund(RefundRequest("R2", PAYMENT, 100)).status == "succeeded"
    assert [m["out_request_no"] for m in csim.movements()] == ["R1", "R2"]


def test_a_new_certificate_is_downloaded_and_trusted_only_through_the_root(keys, csim):
    only_old = cert_channel(keys, csim.url)
    new_sn = csim.rotate()
    assert new_sn not in only_old.keys.keys
    r = only_old.execute_refund(RefundRequest("D1", PAYMENT, 100))
    assert r.status == ResultStatus.SUCCEEDED  # alipay.open.app.alipaycert.download
    assert set(only_old.keys.keys) == {
        certs.cert_sn(certs.load_certs(keys[name])[0])
        for name in ("ALIPAY_PUBLIC_CERT", "ALIPAY_PUBLIC_CERT_NEXT")
    }


def test_a_downloaded_certificate_outside_the_root_chain_is_refused(keys, csim, tmp_path):
    import threading

    import requests
    from werkzeug.serving import make_server

    foreign = ensure_dev_certs(tmp_path / "foreign")["ALIPAY_PUBLIC_CERT_NEXT"]
    forged = base64.b64encode(foreign.encode()).decode()

    def proxy(environ, start_response):  # a man in the middle swapping the downloaded cert
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        text = requests.post(
            csim.url,
            data=body,
            headers={"Content-Type": environ.get("CONTENT_TYPE", "")},
            timeout=5,
        ).text
        text = re.sub(r'"alipay_cert_content":"[^"]*"', f'"alipay_cert_content":"{forged}"', text)
        start_response("200 OK", [("Content-Type", "application/json")])
        return [text.encode()]

    server = make_server("127.0.0.1", 0, proxy, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/gateway.do"
        channel = cert_channel(keys, url)
        new_sn = csim.rotate()
        r = channel.execute_refund(RefundRequest("F1", PAYMENT, 100))
    finally:
        server.shutdown()
        server.server_close()
    assert r.status == ResultStatus.UNKNOWN and r.code == "UNKNOWN_ALIPAY_CERT_SN"
    assert new_sn in r.message and "ALIPAY_PUBLIC_CERT" in r.message
    assert new_sn not in channel.keys.keys
    # the money did move: a channel given the genuine new certificate confirms it, once
    both = keys["ALIPAY_PUBLIC_CERT"] + keys["ALIPAY_PUBLIC_CERT_NEXT"]
    q = cert_channel(keys, csim.url, both).query_refund(RefundRequest("F1", PAYMENT, 100))
    assert q.status == ResultStatus.SUCCEEDED
    assert [m["out_request_no"] for m in csim.movements()] == ["F1"]


def test_an_answer_signed_by_a_key_other_than_its_certificates_is_refused(keys, csim):
    # the channel believes the current SN belongs to the next certificate's key: no match
    wrong = certs.KeySet(
        {
            certs.cert_sn(certs.load_certs(keys["ALIPAY_PUBLIC_CERT"])[0]): certs.rsa_key(
                certs.load_certs(keys["ALIPAY_PUBLIC_CERT_NEXT"])[0]
            )
        },
        certs.cert_sn(certs.load_certs(keys["ALIPAY_APP_CERT"])[0]),
        certs.root_cert_sn(certs.load_certs(keys["ALIPAY_ROOT_CERT"])),
    )
    channel = cert_channel(keys, csim.url)
    channel.keys = wrong
    r = channel.execute_refund(RefundRequest("W1", PAYMENT, 100))
    assert r.status == ResultStatus.UNKNOWN and r.code == "BAD_SIGNATURE"


def test_settings_take_paths_and_several_files(keys, csim, tmp_path):
    files = {}
    for name in ("ALIPAY_APP_CERT", "ALIPAY_PUBLIC_CERT", "ALIPAY_PUBLIC_CERT_NEXT"):
        files[name] = tmp_path / f"{name}.crt"
        files[name].write_text(keys[name])
    (tmp_path / "root.crt").write_text(keys["ALIPAY_ROOT_CERT"])
    settings = cert_settings(keys, csim.url)
    settings.update(
        ALIPAY_APP_CERT=str(files["ALIPAY_APP_CERT"]),
        ALIPAY_PUBLIC_CERT=f"{files['ALIPAY_PUBLIC_CERT']}{os.pathsep}"
        f"{files['ALIPAY_PUBLIC_CERT_NEXT']}",
        ALIPAY_ROOT_CERT=str(tmp_path / "root.crt"),
    )
    channel = channel_from_settings(settings)
    assert len(channel.keys.keys) == 2 and channel.keys.cert_mode
    csim.rotate()
    assert channel.execute_refund(RefundRequest("P1", PAYMENT, 100)).status == "succeeded"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ALIPAY_PUBLIC_KEY": "x"}, "set either ALIPAY_PUBLIC_KEY"),
        ({"ALIPAY_ROOT_CERT": ""}, "missing ALIPAY_ROOT_CERT"),
        ({"ALIPAY_APP_CERT": "/no/such/file.crt"}, "cannot read certificate file"),
        ({"ALIPAY_PUBLIC_CERT": "-----BEGIN CERTIFICATE-----\nxx\n"}, "not a PEM"),
    ],
)
def test_misconfigured_certificate_mode_is_a_start_up_error(keys, change, message):
    settings = {**cert_settings(keys, "http://127.0.0.1:9/gateway.do"), **change}
    with pytest.raises(ChannelError, match=message):
        channel_from_settings(settings)


def test_app_certificate_for_another_key_is_a_start_up_error(keys, tmp_path):
    other = ensure_dev_certs(tmp_path / "other")  # another dev set: another app key
    settings = {
        **cert_settings(keys, "http://x/gateway.do"),
        "ALIPAY_APP_CERT": other["ALIPAY_APP_CERT"],
    }
    with pytest.raises(ChannelError, match="not for the app's private key"):
        channel_from_settings(settings)


def test_alipay_certificate_outside_the_root_chain_is_a_start_up_error(keys, tmp_path):
    other = ensure_dev_certs(tmp_path / "other")  # signed by another root
    settings = {
        **cert_settings(keys, "http://x/gateway.do"),
        "ALIPAY_PUBLIC_CERT": other["ALIPAY_PUBLIC_CERT"],
    }
    with pytest.raises(ChannelError, match="does not chain to the root"):
        channel_from_settings(settings)


def test_notifications_verify_with_either_live_certificate(keys, csim):
    from datetime import datetime
    from urllib.parse import urlencode
    from zoneinfo import ZoneInfo

    channel = cert_channel(
        keys, csim.url, keys["ALIPAY_PUBLIC_CERT"] + keys["ALIPAY_PUBLIC_CERT_NEXT"]
    )
    assert channel.execute_refund(RefundRequest("N1", PAYMENT, 500)).status == "succeeded"
    csim.rotate()  # the query is now answered under the next certificate
    for n, pem in enumerate(("ALIPAY_GATEWAY_PRIVATE_KEY", "ALIPAY_GATEWAY_PRIVATE_KEY_NEXT")):
        p = {
            "notify_time": datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S"),
            "notify_type": "trade_status_sync",
            "notify_id": f"cert-{n}",
            "app_id": keys["ALIPAY_APP_ID"],
            "trade_no": "2026112822001",
            "out_trade_no": "PAY-1",
            "out_biz_no": "N1",
            "refund_fee": "5.00",
            "sign_type": "RSA2",
        }
        p["sign"] = signing.sign(
            signing.string_to_sign(p, ("sign", "sign_type")), signing.load_private(keys[pem])
        )
        note, _ = channel.parse_notification({}, urlencode(p).encode())
        assert (note.status, note.amount_fen) == (ResultStatus.SUCCEEDED, 500)


def test_the_official_sdk_refunds_against_the_simulator_in_certificate_mode(keys, csim):
    client = DCAliPay(
        appid=keys["ALIPAY_APP_ID"],
        app_private_key_string=keys["ALIPAY_APP_PRIVATE_KEY"],
        app_public_key_cert_string=keys["ALIPAY_APP_CERT"],
        alipay_public_key_cert_string=keys["ALIPAY_PUBLIC_CERT"],
        alipay_root_cert_string=keys["ALIPAY_ROOT_CERT"],
    )
    client._gateway = csim.url  # no public setting for the gateway address
    # the simulator accepts only the SNs it computes itself: the SDK's agree with them
    result = client.api_alipay_trade_refund(
        refund_amount="3.21", trade_no="2026112822001", out_request_no="SDK-C1"
    )  # and the SDK raises unless the answer verifies with the certificate's key
    assert result["code"] == "10000" and result["fund_change"] == "Y"
    assert [m["amount_fen"] for m in csim.movements()] == [321]
    # the channel in certificate mode sees the SDK's refund as this key's
    channel = cert_channel(keys, csim.url)
    q = channel.query_refund(RefundRequest("SDK-C1", PAYMENT, 321))
    assert q.status == ResultStatus.SUCCEEDED and q.amount_fen == 321


def test_plain_public_key_mode_still_works_beside_it(channel, sim):
    assert not channel.keys.cert_mode
    assert channel.execute_refund(RefundRequest("PL1", PAYMENT, 100)).status == "succeeded"
