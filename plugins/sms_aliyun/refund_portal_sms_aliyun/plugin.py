"""The plugin hooks: send buyer notices as Alibaba Cloud SMS, and declare the settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from portal import hookimpl
from portal.plugins.notices import NoticeMessage
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.sms import (
    DailyCap,
    common_settings,
    deliver_templated,
    template_keys,
)
from portal.plugins.words import Words

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com/"
TEMPLATE_KEYS = template_keys("SMS_ALIYUN")


def _template(text: str) -> None:
    if not text.startswith("SMS_"):
        raise ValueError(Words(zh="阿里云模板 CODE 形如 SMS_123456", en="like SMS_123456"))


def notify(notice: NoticeMessage, settings: Mapping[str, str]) -> str:
    """Send ``notice`` when configured and worth an SMS; what happened, as a short code."""
    key_id, secret = settings.get("SMS_ALIYUN_ACCESS_KEY_ID"), settings.get("SMS_ALIYUN_SECRET")
    sign, redis_url = settings.get("SMS_ALIYUN_SIGN_NAME"), settings.get("SMS_ALIYUN_REDIS_URL")
    if not (key_id and secret and sign and redis_url):
        return "not configured"
    # imported here: pages load plugins, and requests is not for pages (tests/test_lean.py)
    from refund_portal_sms_aliyun.client import AliyunSmsClient

    client = AliyunSmsClient(
        key_id,
        secret,
        settings.get("SMS_ALIYUN_ENDPOINT") or DEFAULT_ENDPOINT,
        float(settings.get("SMS_ALIYUN_TIMEOUT") or 5),
    )

    def send(phone: str, template: str, params: dict[str, str]) -> tuple[bool, bool, str]:
        result = client.send(phone, sign, template, params)
        return result.ok, result.transient, result.code

    cap = DailyCap.for_url(redis_url, "sms_aliyun", int(settings.get("SMS_ALIYUN_DAILY_CAP") or 5))
    templates = {e: settings.get(k) or "" for e, k in TEMPLATE_KEYS.items()}
    return deliver_templated(notice, templates=templates, cap=cap, send=send, log=log)


@hookimpl
def send_notice(notice: NoticeMessage, settings: PluginSettings) -> None:
    """Deliver a buyer's notice by SMS (see :func:`notify`)."""
    outcome = notify(notice, {k: settings.get(k) or "" for k in _names()})
    log.info("sms_aliyun notice %s: %s", notice.id, outcome)


def _names() -> list[str]:
    return [s.name for s in register_settings()]


@hookimpl
def register_settings() -> list[Setting]:
    """Every key this plugin reads."""
    w, prefix = Words, "SMS_ALIYUN"
    return [
        Setting(
            "SMS_ALIYUN_ACCESS_KEY_ID",
            required=True,
            label=w(zh="阿里云 AccessKey ID", en="AccessKey ID"),
        ),
        Setting(
            "SMS_ALIYUN_SECRET",
            required=True,
            label=w(zh="阿里云 AccessKey Secret", en="AccessKey secret"),
            secret=True,
        ),
        *common_settings(prefix, DEFAULT_ENDPOINT, w(zh="模板编号", en="template code"), _template),
    ]
