"""The official SDK (alibabacloud-dysmsapi20170525) and our client both pass the simulator's
V3 signature check; a tampered request is refused."""

from __future__ import annotations

import pytest
import requests
from alibabacloud_dysmsapi20170525 import models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as openapi
from refund_portal_sms_aliyun.client import AliyunSmsClient


def _sdk(sim, secret=None):
    host = sim.url.removeprefix("http://").rstrip("/")
    config = openapi.Config(
        access_key_id=sim.key_id,
        access_key_secret=secret or sim.secret,
        endpoint=host,
        protocol="http",
    )
    return Client(config)


def _request():
    return models.SendSmsRequest(
        phone_numbers="+8613800138000",
        sign_name="退款门户",
        template_code="SMS_100001",
        template_param='{"case_no":"RF-2026-0001"}',
    )


def test_a_tampered_request_is_refused(sim):
    client = AliyunSmsClient(sim.key_id, sim.secret, sim.url)
    url, headers = client.signed_request({"PhoneNumbers": "13800138000", "SignName": "x"})
    tampered = url.replace("13800138000", "13900139000")
    answer = requests.post(tampered, headers=headers, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["Code"] == "SignatureDoesNotMatch"
    assert sim.sent == [] and sim.rejected == 1


def test_a_replayed_nonce_is_refused(sim):
    client = AliyunSmsClient(sim.key_id, sim.secret, sim.url)
    params = {"PhoneNumbers": "13800138000", "SignName": "x", "TemplateCode": "SMS_1"}
    url, headers = client.signed_request(params)
    assert requests.post(url, headers=headers, timeout=5).json()["Code"] == "OK"
    again = requests.post(url, headers=headers, timeout=5)
    assert again.status_code == 400 and again.json()["Code"] == "SignatureNonceUsed"


def test_the_sdk_with_a_wrong_secret_is_refused(sim):
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        _sdk(sim, secret="not-the-secret").send_sms(_request())
    assert sim.sent == []


def test_the_official_sdk_is_accepted(sim):
    answer = _sdk(sim).send_sms(_request())
    assert answer.body.code == "OK" and answer.body.biz_id
    assert sim.sent[-1].params == {"case_no": "RF-2026-0001"}
    assert sim.sent[-1].template == "SMS_100001"


def test_our_client_is_accepted(sim):
    result = AliyunSmsClient(sim.key_id, sim.secret, sim.url).send(
        "+8613800138000", "退款门户", "SMS_100001", {"case_no": "RF-1"}
    )
    assert result.ok and result.biz_id
    assert sim.sent[-1].sign_name == "退款门户"
