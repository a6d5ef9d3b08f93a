"""``check_connection`` for WeChat Pay: one signed call that changes nothing and proves the
configuration in the channel's key mode (``GET /v3/certificates`` with platform certificates, a
query for a refund that cannot exist with the public key), and what each failure means."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from portal.infra.gateway_http import GatewayError
from portal.plugins.channels import ChannelError, ConnectionCheck
from portal.plugins.words import Words
from refund_portal_wechat import crypto

if TYPE_CHECKING:  # the channel imports this module
    from refund_portal_wechat.channel import WechatChannel


def check(channel: WechatChannel) -> ConnectionCheck:
    """One signed call that changes nothing. In certificate and switching modes,
    ``GET /v3/certificates``: WeChat Pay must accept our signature, the certificates must
    decrypt with the APIv3 key and chain to the trust chain, and the answer must verify
    (with the public key while switching: the request names it). In public-key mode, a
    refund query for an ``out_refund_no`` that cannot exist: ``RESOURCE_NOT_EXISTS``,
    verified with the public key, proves the credentials and the key. Never raises."""
    try:
        if channel.keyring.uses_certificates:
            return _check_certificates(channel)
        return _check_public_key(channel)
    except Exception as exc:  # noqa: BLE001 - a check reports, it never raises
        return ConnectionCheck(
            False,
            Words(zh="检查时出错。", en="The check failed with an error."),
            f"{type(exc).__name__}: {exc}",
        )


def _check_certificates(channel: WechatChannel) -> ConnectionCheck:
    try:
        certs = channel.keyring.refresh()
    except ChannelError as exc:
        return _check_failure(str(exc))
    serials = ", ".join(
        f"{c.serial} (until {time.strftime('%Y-%m-%d', time.gmtime(c.not_after))})" for c in certs
    )
    if channel.key_mode == "cert_and_public_key":
        words = Words(
            zh="微信支付接受了商家签名；平台证书已用 APIv3 密钥解密并校验，"
            "应答已用微信支付公钥验签"
            "（切换期间两种密钥均可用）。",
            en="WeChat Pay accepted our signature; the platform certificates decrypted with"
            " the APIv3 key and checked out, and the answer verified with the WeChat Pay"
            " public key (both keys usable while switching).",
        )
    else:
        words = Words(
            zh="微信支付接受了商家签名；平台证书已用 APIv3 密钥解密，应答验签通过。",
            en="WeChat Pay accepted our signature; the platform certificates decrypted with"
            " the APIv3 key and the answer verified with them.",
        )
    return ConnectionCheck(True, words, f"certificates: {serials}")


def _check_public_key(channel: WechatChannel) -> ConnectionCheck:
    # cycle: refund_portal_wechat.channel -> .connection -> .channel
    from refund_portal_wechat.channel import REFUNDS_PATH, _try_json

    probe = "CHECK-" + crypto.make_nonce(20)
    try:
        resp = channel._send("GET", f"{REFUNDS_PATH}/{probe}", b"")
    except GatewayError as exc:
        return _check_failure(f"no answer from {channel.gateway_url}: {exc}")
    data = _try_json(resp.body)
    code = str(data.get("code") or f"HTTP_{resp.status}")
    detail = f"HTTP {resp.status} {code}: {data.get('message', '')}"
    if resp.status >= 500:
        return _check_failure(detail)
    try:
        crypto.verify_platform_signature(
            resp.headers, resp.body, channel.keyring.key_for, now=channel._clock()
        )
    except crypto.SignatureError as exc:
        if resp.status in (400, 401):
            return _check_failure(detail)
        return ConnectionCheck(
            False,
            Words(
                zh="微信支付的应答无法用所配置的微信支付公钥验签：请核对"
                " WECHAT_PLATFORM_PUBLIC_KEY"
                " 和 WECHAT_PLATFORM_PUBLIC_KEY_ID。",
                en="WeChat Pay's answer does not verify with the configured public key: check"
                " WECHAT_PLATFORM_PUBLIC_KEY and WECHAT_PLATFORM_PUBLIC_KEY_ID.",
            ),
            f"{detail}; {exc}",
        )
    if resp.status == 404 and code == "RESOURCE_NOT_EXISTS":
        return ConnectionCheck(
            True,
            Words(
                zh="微信支付接受了商家签名，应答已用微信支付公钥验签。",
                en="WeChat Pay accepted our signature and its answer verified with the WeChat"
                " Pay public key.",
            ),
            f"public key {channel.keyring.request_serial()}; {detail}",
        )
    return _check_failure(detail)


def _check_failure(detail: str) -> ConnectionCheck:
    """What a failed check says, from the gateway's code or our own finding in ``detail``."""
    words = Words(
        zh="无法连接微信支付或应答异常：请核对网关地址和网络。",
        en="WeChat Pay could not be reached or answered oddly: check the gateway address and"
        " the network.",
    )
    if "SIGN_ERROR" in detail or "HTTP 401" in detail or "answered 401" in detail:
        words = Words(
            zh="微信支付拒绝了商家签名：请核对 WECHAT_MCHID、WECHAT_PRIVATE_KEY 和"
            " WECHAT_CERT_SERIAL（商户 API 证书序列号）。",
            en="WeChat Pay refused our signature: check WECHAT_MCHID, WECHAT_PRIVATE_KEY and"
            " WECHAT_CERT_SERIAL (the merchant API certificate's serial).",
        )
    elif "INVALID_REQUEST" in detail and "Wechatpay-Serial" in detail:
        words = Words(
            zh="微信支付不认识所发送的公钥 ID：请核对 WECHAT_PLATFORM_PUBLIC_KEY_ID。",
            en="WeChat Pay does not know the public key id we sent: check"
            " WECHAT_PLATFORM_PUBLIC_KEY_ID.",
        )
    elif "does not decrypt with the APIv3 key" in detail:
        words = Words(
            zh="平台证书无法用 APIv3 密钥解密：请核对 WECHAT_APIV3_KEY。",
            en="The platform certificates do not decrypt with the APIv3 key: check"
            " WECHAT_APIV3_KEY.",
        )
    elif "not issued by the trust chain" in detail or "trust chain" in detail:
        words = Words(
            zh="下载的平台证书不是由所配置的信任链签发的：请核对 WECHAT_PLATFORM_CERT_CA。",
            en="The downloaded platform certificates do not chain to the configured trust"
            " chain: check WECHAT_PLATFORM_CERT_CA.",
        )
    elif "RESOURCE_NOT_EXISTS" in detail and "certificates" in detail:
        words = Words(
            zh="该商户号没有平台证书（新开通的商户号只有微信支付公钥）："
            "请改用 WECHAT_KEY_MODE=public_key。",
            en="This merchant has no platform certificates (new merchants have only the WeChat"
            " Pay public key): use WECHAT_KEY_MODE=public_key.",
        )
    elif "does not check out" in detail:
        words = Words(
            zh="平台证书下载的验签或校验未通过，未予采用。",
            en="The platform certificate download did not verify and was not used.",
        )
    return ConnectionCheck(False, words, detail)
