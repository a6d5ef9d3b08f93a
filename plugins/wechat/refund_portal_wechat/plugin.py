"""The pluggy hook that registers the WeChat Pay channel from the portal's settings.

Loaded through the ``refund_portal`` entry-point group (``wechat = refund_portal_wechat.plugin``).
Keys: ``WECHAT_MCHID``, ``WECHAT_GATEWAY_URL``, ``WECHAT_PRIVATE_KEY``,
``WECHAT_CERT_SERIAL``, ``WECHAT_APIV3_KEY``, ``WECHAT_KEY_MODE`` (public_key, platform_cert or
cert_and_public_key), ``WECHAT_PLATFORM_PUBLIC_KEY`` and ``WECHAT_PLATFORM_PUBLIC_KEY_ID`` (one or
several WeChat Pay public keys), ``WECHAT_PLATFORM_CERT_CA`` (the platform certificates'
trust chain), ``WECHAT_TIMEOUT``. From the core's services: the replay guard, the shared
store (downloaded platform certificates) and, in development, ``dev_keys_dir`` (a generated
dev key set fills in whatever key is absent).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from portal import hookimpl
from portal.plugins.channels import ChannelError, ChannelServices
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_wechat.channel import WechatChannel
from refund_portal_wechat.devkeys import ensure_dev_keys

PRODUCTION_GATEWAY = "https://api.mch.weixin.qq.com"
#: where ``python -m refund_portal_wechat.simulator`` listens by default
DEV_GATEWAY = "http://127.0.0.1:9102"
#: needed in every key mode
BASE_SETTINGS = ("WECHAT_MCHID", "WECHAT_PRIVATE_KEY", "WECHAT_CERT_SERIAL", "WECHAT_APIV3_KEY")
PUBLIC_KEY_SETTINGS = ("WECHAT_PLATFORM_PUBLIC_KEY", "WECHAT_PLATFORM_PUBLIC_KEY_ID")
#: everything a public-key-mode configuration holds (what a dev key set fills in)
KEY_SETTINGS = (*BASE_SETTINGS, *PUBLIC_KEY_SETTINGS)
KEY_MODES = ("public_key", "platform_cert", "cert_and_public_key")
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.S)


def channel_from_settings(
    settings: Mapping[str, str], services: ChannelServices | None = None
) -> WechatChannel | None:
    """Build the channel from settings; None when WeChat Pay is not configured at all.

    Raises ChannelError when it is configured only in part, or inconsistently with its
    ``WECHAT_KEY_MODE`` (a start-up error, not a payout-time one).
    """
    services = services or ChannelServices()
    names = (*KEY_SETTINGS, "WECHAT_GATEWAY_URL", "WECHAT_KEY_MODE", "WECHAT_PLATFORM_CERT_CA")
    values = {name: (settings.get(name) or "").strip() or None for name in names}
    dev_dir = services.dev_keys_dir
    if not dev_dir and not any(values.values()):
        return None
    mode = values["WECHAT_KEY_MODE"]
    if mode and mode not in KEY_MODES:
        raise ChannelError(f"WECHAT_KEY_MODE is one of {', '.join(KEY_MODES)}, not {mode!r}")
    has_public = any(values[name] for name in PUBLIC_KEY_SETTINGS)
    mode = mode or ("public_key" if has_public or dev_dir else "platform_cert")
    wanted = [*BASE_SETTINGS, *(PUBLIC_KEY_SETTINGS if mode != "platform_cert" else ())]
    gateway = values["WECHAT_GATEWAY_URL"]
    if dev_dir and not all(values[name] for name in wanted):
        dev = ensure_dev_keys(dev_dir)
        for name in wanted:
            values[name] = values[name] or dev[name]
        if mode != "public_key":
            values["WECHAT_PLATFORM_CERT_CA"] = (
                values["WECHAT_PLATFORM_CERT_CA"] or dev["WECHAT_PLATFORM_CERT_CA"]
            )
        gateway = gateway or DEV_GATEWAY
    missing = [name for name in wanted if not values[name]]
    if missing:
        raise ChannelError(f"WeChat Pay is configured in part; missing {', '.join(missing)}")
    if mode == "platform_cert" and has_public:
        raise ChannelError(
            "WECHAT_KEY_MODE is platform_cert but WECHAT_PLATFORM_PUBLIC_KEY(_ID) is set:"
            " use WECHAT_KEY_MODE=cert_and_public_key while both are in use, or public_key"
        )
    return WechatChannel(
        mchid=str(values["WECHAT_MCHID"]),
        gateway_url=str(gateway or PRODUCTION_GATEWAY),
        private_key=str(values["WECHAT_PRIVATE_KEY"]),
        cert_serial=str(values["WECHAT_CERT_SERIAL"]),
        apiv3_key=str(values["WECHAT_APIV3_KEY"]),
        key_mode=mode,
        public_keys=public_keys(
            values["WECHAT_PLATFORM_PUBLIC_KEY"] or "",
            values["WECHAT_PLATFORM_PUBLIC_KEY_ID"] or "",
        ),
        trust_chain=_text_or_file(values["WECHAT_PLATFORM_CERT_CA"]),
        timeout=float(settings.get("WECHAT_TIMEOUT") or 10.0),
        replay_guard=services.replay_guard,
        shared_store=services.shared_store,
    )


def public_keys(pems: str, ids: str) -> dict[str, str]:
    """Pair the PEM blocks of ``WECHAT_PLATFORM_PUBLIC_KEY`` with the ids of
    ``WECHAT_PLATFORM_PUBLIC_KEY_ID`` (commas or spaces between them), in order."""
    blocks = _PEM_BLOCK.findall(pems)
    key_ids = [part for part in re.split(r"[\s,]+", ids) if part]
    if not blocks and not key_ids:
        return {}
    if len(blocks) != len(key_ids):
        raise ChannelError(
            f"WECHAT_PLATFORM_PUBLIC_KEY holds {len(blocks)} key(s) but"
            f" WECHAT_PLATFORM_PUBLIC_KEY_ID names {len(key_ids)}: give one id per key, in order"
        )
    return dict(zip(key_ids, blocks, strict=True))


def _text_or_file(value: str | None) -> bytes | None:
    """A PEM text as given, or the bytes of the file it names (a .pem or .p7b)."""
    if not value:
        return None
    if "-----BEGIN" in value:
        return value.encode("ascii", "replace")
    try:
        return Path(value).read_bytes()
    except OSError as exc:
        raise ChannelError(
            f"WECHAT_PLATFORM_CERT_CA: cannot read {value!r}: {exc.strerror}"
        ) from exc


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


def _key_mode(text: str) -> None:
    if text not in KEY_MODES:
        raise ValueError(
            Words(
                zh="须为 public_key、platform_cert 或 cert_and_public_key",
                en="one of public_key, platform_cert, cert_and_public_key",
            )
        )


def _public_key_ids(text: str) -> None:
    ids = [part for part in re.split(r"[\s,]+", text) if part]
    if not ids or not all(i.startswith("PUB_KEY_ID_") for i in ids):
        raise ValueError(
            Words(
                zh="须以 PUB_KEY_ID_ 开头（多个时用逗号分隔）",
                en="starts with PUB_KEY_ID_ (several: comma-separated)",
            )
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
            "WECHAT_KEY_MODE",
            Words(zh="验签方式", en="Verification key mode"),
            validator=_key_mode,
            help=Words(
                zh="public_key（微信支付公钥）、platform_cert（平台证书，自动下载）或"
                " cert_and_public_key（从平台证书切换到公钥期间，两者并用）；"
                "不填时，设了公钥即为 public_key，否则为 platform_cert",
                en="public_key (WeChat Pay public key), platform_cert (platform certificates,"
                " downloaded) or cert_and_public_key (both, while switching from certificates"
                " to the public key); unset: public_key when a public key is set, else"
                " platform_cert",
            ),
        ),
        Setting(
            "WECHAT_PLATFORM_PUBLIC_KEY",
            Words(zh="微信支付公钥（PEM 格式）", en="WeChat Pay public key (PEM)"),
            validator=_pem,
            help=Words(
                zh="公钥模式和切换期间必填；更换公钥期间可依次放入两把公钥",
                en="needed in public_key and cert_and_public_key modes; while a key is being"
                " replaced, both PEM blocks one after the other",
            ),
        ),
        Setting(
            "WECHAT_PLATFORM_PUBLIC_KEY_ID",
            Words(zh="微信支付公钥 ID", en="WeChat Pay public key id"),
            validator=_public_key_ids,
            help=Words(
                zh="形如 PUB_KEY_ID_0112…；两把公钥时用逗号分隔，顺序与公钥相同",
                en="like PUB_KEY_ID_0112...; with two keys, both ids, comma-separated, in the"
                " keys' order",
            ),
        ),
        Setting(
            "WECHAT_PLATFORM_CERT_CA",
            Words(zh="平台证书信任链", en="Platform certificate trust chain"),
            help=Words(
                zh="平台证书模式和切换期间（可选，建议设置）：微信支付的 CertTrustChain.p7b"
                " 文件路径，或其 PEM 文本；下载的每张平台证书都须由它签发",
                en="platform_cert and cert_and_public_key modes (optional, recommended): the"
                " path of WeChat Pay's CertTrustChain.p7b, or its PEM text; every downloaded"
                " platform certificate must chain to it",
            ),
        ),
        Setting(
            "WECHAT_TIMEOUT",
            Words(zh="网关超时（秒）", en="Gateway timeout (seconds)"),
            validator=_seconds,
            default="10",
        ),
    ]
