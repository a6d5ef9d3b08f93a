"""WeChat Pay's ``POST /v3/refund/domestic/refunds/{refund_id}/apply-abnormal-refund``.

A refund that settled ``ABNORMAL`` (the buyer's card closed, the account frozen) is sent on
to the buyer's debit card (``type=USER_BANK_CARD`` with ``bank_type``, and ``bank_account``
and ``real_name`` encrypted with RSAES-OAEP under the WeChat Pay public key named by the
``Wechatpay-Serial`` request header) or to the merchant's bank account
(``type=MERCHANT_BANK_CARD``). The answer is the refund, now ``PROCESSING``; it then
succeeds and a ``REFUND.SUCCESS`` notification follows. Only the debit cards of the banks
the documentation lists are accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from refund_portal_wechat import crypto
from refund_portal_wechat.simulator.ledger import Answer, Ledger

#: the bank types the documentation accepts for a refund to the user's card (debit only)
BANK_TYPES = frozenset(
    {
        "CMB_DEBIT",
        "COMM_DEBIT",
        "ABC_DEBIT",
        "CCB_DEBIT",
        "ICBC_DEBIT",
        "BOC_DEBIT",
        "SPA_DEBIT",
        "SPDB_DEBIT",
        "CITIC_DEBIT",
        "CEB_DEBIT",
        "CMBC_DEBIT",
        "CIB_DEBIT",
        "GDB_DEBIT",
        "PSBC_DEBIT",
        "NBCB_DEBIT",
    }
)
TYPES = ("USER_BANK_CARD", "MERCHANT_BANK_CARD")


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message})


def apply_abnormal_refund(
    ledger: Ledger,
    refund_id: str,
    fields: dict[str, Any],
    serial: str,
    decrypt: Callable[[str], str],
    platform_serial: str,
) -> Answer:
    """Apply one apply-abnormal-refund request; ``decrypt`` opens a sensitive field."""
    refund = ledger.by_refund_id(refund_id)
    if refund is None:
        return _error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    if fields.get("out_refund_no") != refund.out_refund_no:
        return _error(400, "PARAM_ERROR", "商户退款单号与微信支付退款单号不匹配")
    kind = fields.get("type")
    if kind not in TYPES:
        return _error(400, "PARAM_ERROR", "type 须为 USER_BANK_CARD 或 MERCHANT_BANK_CARD")
    if refund.status != "ABNORMAL":
        if refund.outcome == "SUCCESS" and refund.received_account != "支付用户零钱":
            return Answer(200, refund.as_wechat())  # already sent on: the same answer again
        return _error(400, "INVALID_REQUEST", "退款单状态不是退款异常")
    if kind == "MERCHANT_BANK_CARD":
        ledger.send_on(refund, "交易商户银行账户")
        return Answer(200, refund.as_wechat())
    problem, card = _user_card(fields, serial, decrypt, platform_serial)
    if problem:
        return _error(400, "PARAM_ERROR", problem)
    ledger.send_on(refund, f"{fields['bank_type']}尾号{card[-4:]}")
    return Answer(200, refund.as_wechat())


def _user_card(
    fields: dict[str, Any], serial: str, decrypt: Callable[[str], str], platform_serial: str
) -> tuple[str, str]:
    """(problem, card number): the first problem of a USER_BANK_CARD request, or ''."""
    if fields.get("bank_type") not in BANK_TYPES:
        return "bank_type 不在支持的借记卡银行之列", ""
    if serial != platform_serial:
        return "Wechatpay-Serial 须为加密所用的微信支付公钥ID或平台证书序列号", ""
    opened: list[str] = []
    for name in ("bank_account", "real_name"):
        value = fields.get(name)
        if not isinstance(value, str) or not value or len(value) > 1024:
            return f"{name} 必填（加密后）", ""
        try:
            opened.append(decrypt(value))
        except crypto.SignatureError:
            return f"{name} 无法用微信支付私钥解密", ""
    card, name = opened
    if not (card.isascii() and card.isdigit() and 12 <= len(card) <= 19):
        return "收款银行卡号无效", ""
    if not name.strip() or len(name) > 50:
        return "收款用户姓名无效", ""
    return "", card
