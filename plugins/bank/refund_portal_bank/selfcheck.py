"""``check_connection`` for the bank channel: what can be checked without a bank to call.

The bank channel has no online interface: payouts leave as a batch file the operator
uploads to the bank, and settle from the statement the operator imports. So the check
makes no call and says so. It checks what it can offline: that the debtor account, bank
and currency were set (not left at the demo's placeholders), and that a one-transfer
sample batch can be written in every format the channel offers (the same code the real
export runs), so a setting that would break a batch file shows now, not on export day.
No gateway answered, so the check's ``detail`` (the gateway's words) stays empty but for
the batch writer's own reason when a sample cannot be written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from portal.plugins.channels import ConnectionCheck, PaymentRef, RefundRequest
from portal.plugins.words import Words
from refund_portal_bank.batch import BatchError, build_csv, build_pain001
from refund_portal_bank.records import Debtor, InvalidTransfer, is_bic, transfer_for

#: a sample buyer's card for the sample batch (never sent anywhere)
SAMPLE_CARD = {
    "account_name": "Sample Buyer",
    "account_no": "6222000000000000000",
    "bank_name": "Sample Bank",
}


def check(debtor: Debtor, unset: Iterable[str]) -> ConnectionCheck:
    """The offline check of ``debtor``; ``unset`` names the settings left at their default."""
    missing = sorted(name for name in unset if name != "BANK_CURRENCY")
    if missing:
        names = ", ".join(missing)
        return ConnectionCheck(
            False,
            Words(
                zh=f"未调用任何接口（银行卡支付渠道没有在线接口）。{names} 未设置，批量文件会写上"
                "演示用的占位值：请填写商家对公账户的实际信息",
                en=f"No call made (the bank channel has no online interface). {names} not set: "
                "batch files would carry the demo's placeholders; set the merchant's real "
                "account details",
            ),
        )
    try:
        sample = _sample_request(debtor.currency)
        transfer = transfer_for(sample, debtor.currency)
        build_csv([transfer], debtor.currency)
        build_pain001([transfer], debtor, now=datetime(2000, 1, 1), msg_id="RPCHECK")
    except (BatchError, InvalidTransfer, ValueError) as exc:
        return ConnectionCheck(
            False,
            Words(
                zh="未调用任何接口（银行卡支付渠道没有在线接口）。按当前设置无法写出批量文件，"
                "请核对付款账户设置",
                en="No call made (the bank channel has no online interface). A batch file "
                "cannot be written with these settings; check the debtor account settings",
            ),
            str(exc)[:300],
        )
    agent = "BIC" if is_bic(debtor.agent) else "bank id (not a BIC)"
    agent_zh = "BIC" if is_bic(debtor.agent) else "银行代码（非 BIC）"
    account = _masked(debtor.account)
    return ConnectionCheck(
        True,
        Words(
            zh=f"未调用任何接口（银行卡支付渠道没有在线接口，打款靠批量文件和银行对账单）。"
            f"付款账户 {account}（{debtor.currency}，开户行{agent_zh} {debtor.agent}）"
            "已设置，CSV 和 pain.001 样例批量文件均可写出",
            en=f"No call made (the bank channel has no online interface: payouts go by batch "
            f"file and bank statement). Debtor account {account} ({debtor.currency}, bank "
            f"{agent} {debtor.agent}) is set; a sample batch was written as CSV and pain.001",
        ),
    )


def _sample_request(currency: str) -> RefundRequest:
    payment = PaymentRef(
        channel="bank",
        gateway_trade_id="RPCHECK",
        merchant_trade_no="RPCHECK",
        captured_fen=1,
        currency=currency,
        extra=SAMPLE_CARD,
    )
    return RefundRequest("RPCHECK", payment, 1, currency=currency)


def _masked(account: str) -> str:
    if len(account) <= 8:
        return account[:2] + "*" * max(len(account) - 2, 0)
    return account[:4] + "*" * (len(account) - 8) + account[-4:]
