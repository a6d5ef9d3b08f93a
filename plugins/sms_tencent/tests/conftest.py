"""Fixtures: a running Tencent Cloud SMS simulator, an embedded Redis, the plugin's settings."""

from __future__ import annotations

import pytest
from refund_portal_sms_tencent.simulator import TencentSmsSimulator

from portal.infra.embedded import start_embedded_redis


@pytest.fixture
def sim():
    with TencentSmsSimulator() as s:
        yield s


@pytest.fixture
def redis_url(tmp_path):
    return start_embedded_redis(str(tmp_path / "redis"))


@pytest.fixture
def settings(sim, redis_url):
    return {
        "SMS_TENCENT_SECRET_ID": sim.secret_id,
        "SMS_TENCENT_SECRET_KEY": sim.secret_key,
        "SMS_TENCENT_SDK_APP_ID": sim.app_id,
        "SMS_TENCENT_SIGN_NAME": "退款门户",
        "SMS_TENCENT_ENDPOINT": sim.url,
        "SMS_TENCENT_REDIS_URL": redis_url,
        "SMS_TENCENT_DAILY_CAP": "2",
        "SMS_TENCENT_TIMEOUT": "1",
        "SMS_TENCENT_TEMPLATE_APPROVED": "100001",
        "SMS_TENCENT_TEMPLATE_REJECTED": "100002",
        "SMS_TENCENT_TEMPLATE_NEEDS_INFO": "100003",
        "SMS_TENCENT_TEMPLATE_REFUNDED": "100004",
        "SMS_TENCENT_TEMPLATE_LATE": "100005",
    }
