"""Fixtures: a running Alibaba Cloud SMS simulator, an embedded Redis, the plugin's settings."""

from __future__ import annotations

import pytest
from refund_portal_sms_aliyun.simulator import AliyunSmsSimulator

from portal.infra.embedded import start_embedded_redis


@pytest.fixture
def sim():
    with AliyunSmsSimulator() as s:
        yield s


@pytest.fixture
def redis_url(tmp_path):
    return start_embedded_redis(str(tmp_path / "redis"))


@pytest.fixture
def settings(sim, redis_url):
    return {
        "SMS_ALIYUN_ACCESS_KEY_ID": sim.key_id,
        "SMS_ALIYUN_SECRET": sim.secret,
        "SMS_ALIYUN_SIGN_NAME": "退款门户",
        "SMS_ALIYUN_ENDPOINT": sim.url,
        "SMS_ALIYUN_REDIS_URL": redis_url,
        "SMS_ALIYUN_DAILY_CAP": "2",
        "SMS_ALIYUN_TIMEOUT": "1",
        "SMS_ALIYUN_TEMPLATE_APPROVED": "SMS_100001",
        "SMS_ALIYUN_TEMPLATE_REJECTED": "SMS_100002",
        "SMS_ALIYUN_TEMPLATE_NEEDS_INFO": "SMS_100003",
        "SMS_ALIYUN_TEMPLATE_REFUNDED": "SMS_100004",
        "SMS_ALIYUN_TEMPLATE_LATE": "SMS_100005",
    }
