"""The plugin hooks: send buyer notices as Tencent Cloud SMS, and declare the settings."""

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
    positive_int,
    template_keys,
)
from portal.plugins.words import Words

log = logging.getLogger(__name__)
DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com/"
TEMPLATE_KEYS = template_keys("SMS_TENCENT")


def _template(text: str) -> None:
    if not text.isdigit():
        raise ValueError(Words(zh="腾讯云模板 ID 只含数字", en="a template id is all digits"))


def notify(notice: NoticeMessage, settings: Mapping[str, str]) -> str:
    """Send ``notice`` when configured and worth an SMS; what happened, as a short code."""
    key_id, secret = settings.get("SMS_TENCENT_SECRET_ID"), settings.get("SMS_TENCENT_SECRET_KEY")
    sign, redis_url = settings.get("SMS_TENCENT_SIGN_NAME"), settings.get("SMS_TENCENT_REDIS_URL")
    app_id = settings.get("SMS_TENCENT_SDK_APP_ID")
    if not (key_id and secret and sign and redis_url and app_id):
        return "not configured"
    # imported here: pages load plugins, and requests is not for pages (tests/test_lean.py)
    from refund_portal_sms_tencent.client import TencentSmsClient

    client = TencentSmsClient(
        key_id,
        secret,
        settings.get("SMS_TENCENT_ENDPOINT") or DEFAULT_ENDPOINT,
        settings.get("SMS_TENCENT_REGION") or "ap-guangzhou",
        float(settings.get("SMS_TENCENT_TIMEOUT") or 5),
    )

    def send(phone: str, template: str, params: dict[str, str]) -> tuple[bool, bool, str]:
        # Tencent templates number their variables {1}, {2}...: the case number is {1}
        result = client.send(phone, app_id, sign, template, [params["case_no"]])
        return result.ok, result.transient, result.code

    cap = DailyCap.for_url(
        redis_url, "sms_tencent", int(settings.get("SMS_TENCENT_DAILY_CAP") or 5)
    )
    templates = {e: settings.get(k) or "" for e, k in TEMPLATE_KEYS.items()}
    return deliver_templated(notice, templates=templates, cap=cap, send=send, log=log)


@hookimpl
def send_notice(notice: NoticeMessage, settings: PluginSettings) -> None:
    """Deliver a buyer's notice by SMS (see :func:`notify`)."""
    outcome = notify(notice, {k: settings.get(k) or "" for k in _names()})
    log.info("sms_tencent notice %s: %s", notice.id, outcome)


def _names() -> list[str]:
    return [s.name for s in register_settings()]


@hookimpl
def register_settings() -> list[Setting]:
    """Every key this plugin reads."""
    w, prefix = Words, "SMS_TENCENT"
    return [
        Setting(
            "SMS_TENCENT_SECRET_ID", required=True, label=w(zh="腾讯云 SecretId", en="SecretId")
        ),
        Setting(
            "SMS_TENCENT_SECRET_KEY",
            required=True,
            label=w(zh="腾讯云 SecretKey", en="SecretKey"),
            secret=True,
        ),
        Setting(
            "SMS_TENCENT_SDK_APP_ID",
            required=True,
            label=w(zh="短信应用 SdkAppId", en="SMS SdkAppId"),
            validator=positive_int,
        ),
        Setting("SMS_TENCENT_REGION", w(zh="地域", en="region"), default="ap-guangzhou"),
        *common_settings(prefix, DEFAULT_ENDPOINT, w(zh="模板 ID", en="template id"), _template),
    ]
