"""The official SDK (tencentcloud-sdk-python-sms) and our client both pass the simulator's
TC3-HMAC-SHA256 check; tampered, expired and wrong-key requests are refused."""

from __future__ import annotations

import json

import pytest
import requests
from refund_portal_sms_tencent.client import TencentSmsClient
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models, sms_client


def _sdk(sim, key=None):
    http = HttpProfile(endpoint=sim.url.removeprefix("http://").rstrip("/"), reqTimeout=5)
    http.scheme = "http"
    cred = credential.Credential(sim.secret_id, key or sim.secret_key)
    return sms_client.SmsClient(cred, "ap-guangzhou", ClientProfile(httpProfile=http))


def _request():
    req = models.SendSmsRequest()
    req.PhoneNumberSet = ["+8613800138000"]
    req.SmsSdkAppId = "1400006666"
    req.SignName = "退款门户"
    req.TemplateId = "100001"
    req.TemplateParamSet = ["RF-2026-0001"]
    return req


def _post(sim, body, headers):
    return requests.post(sim.url, data=body, headers=headers, timeout=5).json()["Response"]


def test_a_tampered_body_is_refused(sim):
    body = json.dumps({"PhoneNumberSet": ["+8613800138000"], "SmsSdkAppId": sim.app_id,
                       "TemplateId": "1"}).encode()  # fmt: skip
    headers = TencentSmsClient(sim.secret_id, sim.secret_key, sim.url).signed_headers(body)
    answer = _post(sim, body.replace(b"13800138000", b"13900139000"), headers)
    assert answer["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert sim.sent == [] and sim.rejected == 1


def test_an_old_timestamp_is_refused(sim):
    body = b"{}"
    client = TencentSmsClient(sim.secret_id, sim.secret_key, sim.url)
    headers = client.signed_headers(body, timestamp=1_700_000_000)
    assert _post(sim, body, headers)["Error"]["Code"] == "AuthFailure.SignatureExpire"


def test_the_sdk_with_a_wrong_key_is_refused(sim):
    with pytest.raises(TencentCloudSDKException) as err:
        _sdk(sim, key="not-the-key").SendSms(_request())
    assert err.value.get_code() == "AuthFailure.SignatureFailure"
    assert sim.sent == []


def test_the_official_sdk_is_accepted(sim):
    answer = _sdk(sim).SendSms(_request())
    assert answer.SendStatusSet[0].Code == "Ok"
    assert sim.sent[-1].params == ["RF-2026-0001"] and sim.sent[-1].template == "100001"


def test_our_client_is_accepted(sim):
    result = TencentSmsClient(sim.secret_id, sim.secret_key, sim.url).send(
        "+8613800138000", sim.app_id, "退款门户", "100001", ["RF-1"]
    )
    assert result.ok and result.serial_no.startswith("5000:")
    assert sim.sent[-1].sign_name == "退款门户"
