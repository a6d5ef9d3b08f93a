"""The pluggy hook that registers the WeChat Pay channel from the portal's settings.

Loaded through the ``refund_portal`` entry-point group (``wechat = refund_portal_wechat.plugin``).
Keys: ``WECHAT_MCHID``, ``WECHAT_GATEWAY_URL``, ``WECHAT_PRIVATE_KEY``,
``WECHAT_CERT_SERIAL``, ``WECHAT_APIV3_KEY``, ``WECHAT_PLATFORM_PUBLIC_KEY``,
``WECHAT_PLATFORM_PUBLIC_KEY_ID``, ``WECHAT_TIMEOUT``. From the core's services: the
replay guard and, in development, ``dev_keys_dir`` (a generated dev key set fills in
whatever key is absent).
"""

from __future__ import annotations

from collections.abc import Mapping

from portal import hookimpl
from portal.plugins.channels import ChannelError, ChannelServices
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_wechat.channel import WechatChannel
from refund_portal_wechat.devkeys import ensure_dev_keys

PRODUCTION_GATEWAY = "https://api.mch.weixin.qq.com"
#: where ``python -m refund_portal_wechat.simulator`` listens by default
DEV_GATEWAY = "http://127.0.0.1:9102"
KEY_SETTINGS = (
    "WECHAT_MCHID",
    "WECHAT_PRIVATE_KEY",
    "WECHAT_CERT_SERIAL",
    "WECHAT_APIV3_KEY",
    "WECHAT_PLATFORM_PUBLIC_KEY",
    "WECHAT_PLATFORM_PUBLIC_KEY_ID",
)


def channel_from_settings(
    settings: Mapping[str, str], services: ChannelServices | None = None
) -> WechatChannel | None:
    """Build the channel from settings; None when WeChat Pay is not configured at all.

    Raises ChannelError when it is configured only in part (a start-up error, not a
    payout-time one).
    """
    services = services or ChannelServices()
    values = {name: settings.get(name) for name in (*KEY_SETTINGS, "WECHAT_GATEWAY_URL")}
    dev_dir = services.dev_keys_dir
    if not dev_dir and not any(values.values()):
        return None
    gateway = values["WECHAT_GATEWAY_URL"]
    if dev_dir and not all(values[name] for name in KEY_SETTINGS):
        dev = ensure_dev_keys(dev_dir)
        for name in KEY_SETTINGS:
            values[name] = values[name] or dev[name]
        gateway = gateway or DEV_GATEWAY
    missing = [name for name in KEY_SETTINGS if not values[name]]
    if missing:
        raise ChannelError(f"WeChat Pay is configured in part; missing {', '.join(missing)}")
    return WechatChannel(
        mchid=str(values["WECHAT_MCHID"]),
        gateway_url=str(gateway or PRODUCTION_GATEWAY),
        private_key=str(values["WECHAT_PRIVATE_KEY"]),
        cert_serial=str(values["WECHAT_CERT_SERIAL"]),
        apiv3_key=str(values["WECHAT_APIV3_KEY"]),
        platform_public_key=str(values["WECHAT_PLATFORM_PUBLIC_KEY"]),
        platform_public_key_id=str(values["WECHAT_PLATFORM_PUBLIC_KEY_ID"]),
        timeout=float(settings.get("WECHAT_TIMEOUT") or 10.0),
        replay_guard=services.replay_guard,
    )


@hookimpl
def register_payout_channels(
    settings: PluginSettings, services: ChannelServices
) -> list[WechatChannel]:
    """Register the WeChat Pay channel when it is configured."""
    channel = channel_from_settings(settings, services)
    return [channel] if channel is not None else []


def _digits(text: str) -> None:
    if not text.isdigit():
        raise ValueError(
            Words(zh="只能包含数字，例如 1900000109", en="digits only, e.g. 1900000109")
        )


def _url(text: str) -> None:
    if not text.startswith(("https://", "http://")):
        raise ValueError(Words(zh="须为以 https:// 开头的地址", en="a URL starting with https://"))


def _apiv3_key(text: str) -> None:
    if len(text.encode("utf-8")) != 32:
        raise ValueError(
            Words(zh="APIv3 密钥正好是 32 个字符", en="the APIv3 key is exactly 32 characters")
        )


def _pem(text: str) -> None:
    if "-----BEGIN" not in text:
        raise ValueError(
            Words(zh="须为以 -----BEGIN 开头的 PEM 文本", en="a PEM text starting with -----BEGIN")
        )


def _seconds(text: str) -> None:
    try:
        ok = float(text) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(Words(zh="须为大于 0 的秒数", en="a number of seconds above 0"))


@hookimpl
def register_settings() -> list[Setting]:
    """The settings above, for the operators' settings page."""
    needed = Words(
        zh="使用微信支付时必填（开发环境中设置 DEV_KEYS_DIR 后由开发密钥自动填入）",
        en="needed for WeChat Pay (in development, with DEV_KEYS_DIR, a dev key set fills it in)",
    )
    return [
        Setting(
            "WECHAT_MCHID",
            Words(zh="微信支付商户号", en="WeChat Pay merchant id (mchid)"),
            validator=_digits,
            help=needed,
        ),
        Setting(
            "WECHAT_GATEWAY_URL",
            Words(zh="网关地址", en="Gateway URL"),
            validator=_url,
            default=PRODUCTION_GATEWAY,
        ),
        Setting(
            "WECHAT_PRIVATE_KEY",
            Words(zh="商户 API 私钥（PEM 格式）", en="Merchant API private key (PEM)"),
            secret=True,
            validator=_pem,
            help=needed,
        ),
        Setting(
            "WECHAT_CERT_SERIAL",
            Words(zh="商户 API 证书序列号", en="Merchant certificate serial number"),
            help=needed,
        ),
        Setting(
            "WECHAT_APIV3_KEY",
            Words(zh="APIv3 密钥", en="APIv3 key"),
            secret=True,
            validator=_apiv3_key,
            help=needed,
        ),
        Setting(
            "WECHAT_PLATFORM_PUBLIC_KEY",
            Words(zh="微信支付公钥（PEM 格式）", en="WeChat Pay platform public key (PEM)"),
            validator=_pem,
            help=needed,
        ),
        Setting(
            "WECHAT_PLATFORM_PUBLIC_KEY_ID",
            Words(zh="微信支付公钥 ID", en="Platform public key id"),
            help=needed,
        ),
        Setting(
            "WECHAT_TIMEOUT",
            Words(zh="网关超时（秒）", en="Gateway timeout (seconds)"),
            validator=_seconds,
            default="10",
        ),
    ]
