"""``check_connection`` for Alipay: one signed refund query that proves the configuration.

The call is ``alipay.trade.fastpay.refund.query`` for an ``out_trade_no`` and
``out_request_no`` that never existed: it moves no money and changes nothing. What comes
back tells what is configured right:

* a *verified* answer (code 10000, or a business error such as ``ACQ.TRADE_NOT_EXIST``
  under code 40004) proves the app id, the app private key (Alipay checked our signature)
  and the Alipay public key or certificate (we checked Alipay's);
* ``isv.invalid-app-id`` names the app id (or a sandbox app id sent to the production
  gateway), ``isv.invalid-signature`` the private key, the certificate SN refusals the
  certificates, ``isv.insufficient-isv-permissions`` (40006) a product not signed;
* an answer that does not verify names the Alipay public key (or certificate) configured;
* no answer names the gateway address or the network.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from portal.plugins.channels import ConnectionCheck, RefundResult
from portal.plugins.words import Words

if TYPE_CHECKING:
    from refund_portal_alipay.channel import AlipayChannel

QUERY = "alipay.trade.fastpay.refund.query"
#: the gateway's own refusals (公共错误码), before any business logic ran
ARGUMENT_CODES = {"40001", "40002"}
NO_PERMISSION = "40006"
UNAVAILABLE = "20000"


def check(channel: AlipayChannel) -> ConnectionCheck:
    """What one refund query for a refund that does not exist shows of the configuration."""
    reference = "RPCHECK" + uuid.uuid4().hex[:24].upper()
    biz = {"out_trade_no": reference, "out_request_no": reference}
    posted = channel._post(QUERY, biz)
    if isinstance(posted, RefundResult):
        return _no_answer(channel, posted)
    raw, outer, content = posted
    try:
        answer = json.loads(content)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return _unreadable(channel, raw)
    code, sub_code = str(answer.get("code", "")), str(answer.get("sub_code", ""))
    detail = _detail(answer)
    if code in ARGUMENT_CODES:  # Alipay refused the request itself (signed or not)
        return ConnectionCheck(False, _refusal(channel, sub_code), detail)
    if code == UNAVAILABLE:
        return ConnectionCheck(
            False,
            Words(
                zh="支付宝暂时无法处理请求（系统繁忙），请稍后再检查一次",
                en="Alipay could not handle the request just now (system busy); check again later",
            ),
            detail,
        )
    body, unverified = channel._verified(raw, outer, content)
    if body is None:
        assert unverified is not None
        return ConnectionCheck(False, _not_verified(channel, unverified), _detail_of(unverified))
    if code == NO_PERMISSION:
        return ConnectionCheck(
            False,
            Words(
                zh="支付宝确认了应用与密钥，但该应用无权调用退款接口：请在开放平台为应用"
                "开通（签约）相应产品",
                en="Alipay accepted the app and its keys, but the app may not call the refund "
                "API: sign the product for this app in the open platform console",
            ),
            detail,
        )
    mode = (
        Words(zh="支付宝公钥证书", en="Alipay public-key certificate")
        if channel.keys.cert_mode
        else Words(zh="支付宝公钥", en="Alipay public key")
    )
    return ConnectionCheck(
        True,
        Words(
            zh=f"支付宝接受了应用 {channel.app_id} 的签名，应答也通过了{mode.zh}的验签"
            "（查询的是一笔不存在的退款，没有动用资金）",
            en=f"Alipay accepted app {channel.app_id}'s signature and its answer verified "
            f"with the {mode.en} (a query for a refund that does not exist; no money moved)",
        ),
        detail,
    )


def _detail(answer: dict[str, Any]) -> str:
    parts = [str(answer.get(k)) for k in ("code", "msg", "sub_code", "sub_msg") if answer.get(k)]
    return " ".join(parts)[:300]


def _detail_of(result: RefundResult) -> str:
    return f"{result.code}: {result.message}"[:300]


def _no_answer(channel: AlipayChannel, result: RefundResult) -> ConnectionCheck:
    if result.code == "TIMEOUT":
        words = Words(
            zh=f"支付宝网关 {channel.gateway_url} 在 {channel.timeout:g} 秒内没有应答：请检查"
            "网络、代理和防火墙",
            en=f"no answer from the Alipay gateway {channel.gateway_url} within "
            f"{channel.timeout:g} s: check the network, proxy and firewall",
        )
    elif result.code == "NETWORK":
        words = Words(
            zh=f"无法连接支付宝网关 {channel.gateway_url}：请检查 ALIPAY_GATEWAY_URL、网络和防火墙",
            en=f"cannot reach the Alipay gateway {channel.gateway_url}: check "
            "ALIPAY_GATEWAY_URL, the network and the firewall",
        )
    else:  # an answer, but no signed one: an unsigned refusal, or not Alipay at all
        refusal = _error_response(result.raw)
        if refusal is not None and str(refusal.get("code", "")) in ARGUMENT_CODES:
            words = _refusal(channel, str(refusal.get("sub_code", "")))
            return ConnectionCheck(False, words, _detail(refusal))
        return _unreadable(channel, result.raw or result.message)
    return ConnectionCheck(False, words, _detail_of(result))


def _error_response(raw: object) -> dict[str, Any] | None:
    """The ``error_response`` object of an unsigned refusal, if ``raw`` is one."""
    try:
        outer = json.loads(str(raw))
    except ValueError:
        return None
    if not isinstance(outer, dict):
        return None
    found = outer.get("error_response") or outer.get(QUERY.replace(".", "_") + "_response")
    return found if isinstance(found, dict) else None


def _unreadable(channel: AlipayChannel, raw: object) -> ConnectionCheck:
    return ConnectionCheck(
        False,
        Words(
            zh=f"{channel.gateway_url} 的应答不是支付宝网关的应答：请检查 ALIPAY_GATEWAY_URL"
            "（生产环境为 https://openapi.alipay.com/gateway.do）",
            en=f"the answer from {channel.gateway_url} is not an Alipay gateway's: check "
            "ALIPAY_GATEWAY_URL (https://openapi.alipay.com/gateway.do in production)",
        ),
        str(raw)[:300],
    )


def _refusal(channel: AlipayChannel, sub_code: str) -> Words:
    if sub_code == "isv.invalid-app-id":
        return Words(
            zh=f"支付宝不认识应用 {channel.app_id}：请检查 ALIPAY_APP_ID、应用是否已上线，"
            "以及网关地址是否与应用所在环境（正式或沙箱）一致",
            en=f"Alipay does not know app {channel.app_id}: check ALIPAY_APP_ID, that the app "
            "is online, and that the gateway matches the app's environment (production or "
            "sandbox)",
        )
    if sub_code == "isv.invalid-signature":
        return Words(
            zh="支付宝拒绝了请求的签名：ALIPAY_APP_PRIVATE_KEY 与开放平台上为该应用上传的"
            "应用公钥（或应用公钥证书）不是一对",
            en="Alipay refused the request's signature: ALIPAY_APP_PRIVATE_KEY does not match "
            "the app public key (or app certificate) uploaded for this app in the console",
        )
    if "cert" in sub_code:
        return Words(
            zh="支付宝拒绝了请求中的证书序列号：请检查 ALIPAY_APP_CERT 和 ALIPAY_ROOT_CERT "
            "是否为该应用当前的证书（开放平台下载的 appCertPublicKey_<APPID>.crt 和 "
            "alipayRootCert.crt）",
            en="Alipay refused the certificate serial numbers on the request: check that "
            "ALIPAY_APP_CERT and ALIPAY_ROOT_CERT are this app's current certificates "
            "(appCertPublicKey_<APPID>.crt and alipayRootCert.crt from the console)",
        )
    if sub_code == "isv.missing-signature-key":
        return Words(
            zh="该应用在开放平台上还没有配置接口加签方式（应用公钥或公钥证书）",
            en="this app has no signing key set up in the open platform console yet (app "
            "public key or certificate)",
        )
    return Words(
        zh=f"支付宝拒绝了请求（{sub_code or '无明细码'}）：请核对应用配置",
        en=f"Alipay refused the request ({sub_code or 'no sub_code'}): check the app's settings",
    )


def _not_verified(channel: AlipayChannel, result: RefundResult) -> Words:
    if result.code == "UNKNOWN_ALIPAY_CERT_SN":
        return Words(
            zh="支付宝用一张未配置的证书签名了应答，且无法下载并用根证书核实：请把新的"
            "支付宝公钥证书加入 ALIPAY_PUBLIC_CERT",
            en="Alipay signed its answer with a certificate that is not configured and could "
            "not be downloaded and checked against the root: add the new Alipay public-key "
            "certificate to ALIPAY_PUBLIC_CERT",
        )
    if channel.keys.cert_mode:
        return Words(
            zh="支付宝的应答未通过验签：ALIPAY_PUBLIC_CERT 不是支付宝公钥证书"
            "（alipayCertPublicKey_RSA2.crt）",
            en="Alipay's answer failed verification: ALIPAY_PUBLIC_CERT is not the Alipay "
            "public-key certificate (alipayCertPublicKey_RSA2.crt)",
        )
    return Words(
        zh="支付宝的应答未通过验签：ALIPAY_PUBLIC_KEY 不是该应用的“支付宝公钥”（常见错误："
        "填成了应用公钥）",
        en="Alipay's answer failed verification: ALIPAY_PUBLIC_KEY is not this app's "
        "\u201cAlipay public key\u201d (a common mistake: the app public key pasted instead)",
    )
