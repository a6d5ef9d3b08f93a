"""The plugin hooks: register the Alipay channel when it is configured, and declare its settings."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

from portal import hookimpl
from portal.plugins.channels import ChannelError, ChannelServices
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_alipay import certs, signing
from refund_portal_alipay.channel import DEFAULT_NOTIFY_MAX_AGE, AlipayChannel
from refund_portal_alipay.devkeys import ensure_dev_keys

KEYS = ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")
#: public-key certificate mode (公钥证书): all three instead of ALIPAY_PUBLIC_KEY
CERTS = ("ALIPAY_APP_CERT", "ALIPAY_PUBLIC_CERT", "ALIPAY_ROOT_CERT")
DEV_GATEWAY = "http://127.0.0.1:9101/gateway.do"
DEFAULT_TIMEOUT_S = 10.0


def _seconds(name: str, value: str | None, default: float) -> float:
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ChannelError(f"{name} must be a number of seconds, not {value!r}") from None
    if not seconds > 0:
        raise ChannelError(f"{name} must be positive, not {value!r}")
    return seconds


def channel_from_settings(
    settings: Mapping[str, str], services: ChannelServices | None = None
) -> AlipayChannel | None:
    """An AlipayChannel from the plugin's settings, or None when Alipay is not configured.

    With ``services.dev_keys_dir`` set, missing keys come from the dev key set in that
    directory (made once, reused; the simulator reads its halves from there) and the gateway
    defaults to the local simulator. A partial production configuration is an error.
    """
    services = services or ChannelServices()
    values = {k: settings.get(k) for k in (*KEYS, *CERTS, "ALIPAY_GATEWAY_URL")}
    dev_dir = services.dev_keys_dir
    if not any(values.values()) and not dev_dir:
        return None
    cert_mode = any(values[k] for k in CERTS)
    needed = ("ALIPAY_APP_ID", "ALIPAY_APP_PRIVATE_KEY", *(CERTS if cert_mode else KEYS[2:]))
    if cert_mode and values["ALIPAY_PUBLIC_KEY"]:
        raise ChannelError(
            "alipay channel misconfigured: set either ALIPAY_PUBLIC_KEY (public-key mode) or "
            "ALIPAY_APP_CERT, ALIPAY_PUBLIC_CERT and ALIPAY_ROOT_CERT (certificate mode)"
        )
    if dev_dir and not all(values[k] for k in needed):
        dev = ensure_dev_keys(dev_dir)
        for k in KEYS[: 2 if cert_mode else 3]:
            values[k] = values[k] or dev[k]
        values["ALIPAY_GATEWAY_URL"] = values["ALIPAY_GATEWAY_URL"] or DEV_GATEWAY
    missing = [k for k in (*needed, "ALIPAY_GATEWAY_URL") if not values[k]]
    if missing:
        raise ChannelError("alipay channel misconfigured: missing " + ", ".join(missing))
    try:
        private = str(values["ALIPAY_APP_PRIVATE_KEY"])
        keys = None
        if cert_mode:
            keys = certs.KeySet.from_certificates(
                str(values["ALIPAY_APP_CERT"]),
                str(values["ALIPAY_PUBLIC_CERT"]),
                str(values["ALIPAY_ROOT_CERT"]),
                signing.load_private(private).public_key(),
            )
        return AlipayChannel(
            app_id=str(values["ALIPAY_APP_ID"]),
            gateway_url=str(values["ALIPAY_GATEWAY_URL"]),
            app_private_key=private,
            alipay_public_key=str(values["ALIPAY_PUBLIC_KEY"] or ""),
            keys=keys,
            timeout=_seconds("ALIPAY_TIMEOUT", settings.get("ALIPAY_TIMEOUT"), DEFAULT_TIMEOUT_S),
            notify_max_age=timedelta(
                seconds=_seconds(
                    "ALIPAY_NOTIFY_MAX_AGE",
                    settings.get("ALIPAY_NOTIFY_MAX_AGE"),
                    DEFAULT_NOTIFY_MAX_AGE.total_seconds(),
                )
            ),
            replay_guard=services.replay_guard,
            deposit_back=_flag("ALIPAY_DEPOSIT_BACK", settings.get("ALIPAY_DEPOSIT_BACK")),
        )
    except ValueError as exc:  # a key that does not load; never echo the key itself
        raise ChannelError(f"alipay channel misconfigured: {exc}") from None


def _flag(name: str, value: str | None) -> bool:
    text = (value or "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise ChannelError(f"{name} must be true or false, not {value!r}")


@hookimpl
def register_payout_channels(
    settings: PluginSettings, services: ChannelServices
) -> list[AlipayChannel]:
    """Register the Alipay channel if configured."""
    channel = channel_from_settings(settings, services)
    return [channel] if channel else []


def _private_key(text: str) -> None:
    try:
        signing.load_private(text)
    except (ValueError, TypeError):
        raise ValueError(
            Words(zh="不是 PEM 格式的 RSA 私钥", en="not an RSA private key in PEM form")
        ) from None


def _public_key(text: str) -> None:
    try:
        signing.load_public(text)
    except (ValueError, TypeError):
        raise ValueError(
            Words(
                zh="不是 RSA 公钥（PEM 格式，或其不带首尾行的 base64）",
                en="not an RSA public key (PEM, or the bare base64 of one)",
            )
        ) from None


def _certificates(text: str) -> None:
    try:
        certs.load_certs(text)
    except ValueError:
        raise ValueError(
            Words(
                zh="不是 PEM 格式的证书，也不是可读的证书文件路径",
                en="not a PEM certificate, nor the path of a readable certificate file",
            )
        ) from None


def _boolean(text: str) -> None:
    if text.strip().lower() not in ("0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ValueError(
            Words(zh="须为 1（开启）或 0（关闭）", en="must be true or false (1 or 0)")
        )


def _url(text: str) -> None:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            Words(
                zh="须为 http:// 或 https:// 开头的地址，例如 https://openapi.alipay.com/gateway.do",
                en="must be an http(s) URL, e.g. https://openapi.alipay.com/gateway.do",
            )
        )


def _positive(text: str) -> None:
    try:
        ok = float(text) > 0
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(Words(zh="须为正的秒数", en="must be a positive number of seconds"))


def _app_id(text: str) -> None:
    if not text.isdigit():
        raise ValueError(Words(zh="支付宝 APPID 只含数字", en="an Alipay app id is all digits"))


@hookimpl
def register_settings() -> list[Setting]:
    """The settings the channel reads, for the operators' settings page."""
    return [
        Setting(
            "ALIPAY_APP_ID", Words(zh="支付宝应用 APPID", en="Alipay app id"), validator=_app_id
        ),
        Setting(
            "ALIPAY_GATEWAY_URL",
            Words(zh="支付宝网关地址", en="Alipay gateway"),
            validator=_url,
            help=Words(
                zh="生产环境为 https://openapi.alipay.com/gateway.do",
                en="https://openapi.alipay.com/gateway.do in production",
            ),
        ),
        Setting(
            "ALIPAY_APP_PRIVATE_KEY",
            Words(zh="应用私钥（RSA2，PEM 格式）", en="Your app's RSA2 private key (PEM)"),
            secret=True,
            validator=_private_key,
        ),
        Setting(
            "ALIPAY_PUBLIC_KEY",
            Words(zh="支付宝公钥（PEM 格式）", en="Alipay's public key (PEM)"),
            validator=_public_key,
            help=Words(
                zh="在支付宝开放平台控制台获取，用于验证应答和异步通知",
                en="from the open platform console; verifies answers and notifications",
            ),
        ),
        Setting(
            "ALIPAY_APP_CERT",
            Words(zh="应用公钥证书（公钥证书模式）", en="App public-key certificate (cert mode)"),
            validator=_certificates,
            help=Words(
                zh="appCertPublicKey_<APPID>.crt 的内容或路径；公钥证书模式下替代支付宝公钥",
                en="contents or path of appCertPublicKey_<APPID>.crt; certificate mode, "
                "instead of Alipay's public key",
            ),
        ),
        Setting(
            "ALIPAY_PUBLIC_CERT",
            Words(zh="支付宝公钥证书", en="Alipay public-key certificate(s)"),
            validator=_certificates,
            help=Words(
                zh="alipayCertPublicKey_RSA2.crt 的内容或路径；证书更换期间可同时给出新旧两张",
                en="contents or path of alipayCertPublicKey_RSA2.crt; during a rotation give "
                "both the old and the new one",
            ),
        ),
        Setting(
            "ALIPAY_ROOT_CERT",
            Words(zh="支付宝根证书", en="Alipay root certificate"),
            validator=_certificates,
            help=Words(
                zh="alipayRootCert.crt 的内容或路径", en="contents or path of alipayRootCert.crt"
            ),
        ),
        Setting(
            "ALIPAY_DEPOSIT_BACK",
            Words(zh="接收银行卡退款到账消息", en="Bank-card refund completion messages"),
            validator=_boolean,
            default="false",
            help=Words(
                zh="开启（设为 1）后，退款请求带 query_options=deposit_back_info，"
                "支付宝在银行卡退款到账后发送 alipay.trade.refund.depositback.completed 消息",
                en="true: refunds ask for the alipay.trade.refund.depositback.completed "
                "message sent when a bank-card refund reaches the card",
            ),
        ),
        Setting(
            "ALIPAY_TIMEOUT",
            Words(zh="网关超时（秒）", en="Gateway timeout (seconds)"),
            validator=_positive,
            default=str(int(DEFAULT_TIMEOUT_S)),
        ),
        Setting(
            "ALIPAY_NOTIFY_MAX_AGE",
            Words(zh="可接受的最早通知（秒）", en="Oldest notification accepted (seconds)"),
            validator=_positive,
            default=str(int(DEFAULT_NOTIFY_MAX_AGE.total_seconds())),
            help=Words(
                zh="支付宝会在约 25 小时内重发通知",
                en="Alipay resends a notification for about 25 hours",
            ),
        ),
    ]
