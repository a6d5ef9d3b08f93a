"""The store-credit payout channel: refunds go back to the buyer's shop balance."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from portal.plugins.channels import (
    ArrivalWindow,
    BillMissing,
    BillRow,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ResultStatus,
)
from portal.plugins.words import Words
from refund_portal_balance.wallet import Credit, Wallet, WalletRefused

BEIJING = ZoneInfo("Asia/Shanghai")


class BalanceChannel(PayoutChannel):
    """Refunds to the wallet the purchase was paid from (instant, never partial-refused).

    Also a ``BillProvider``: the wallet's own credits of a Beijing day are its bill.
    """

    id = "balance"
    label = Words(zh="店铺余额", en="Store credit")

    def __init__(self, wallet: Wallet) -> None:
        self.wallet = wallet

    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        return ArrivalWindow("instant")

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        try:
            credit = self.wallet.credit(
                request.idempotency_key, request.payment.gateway_trade_id, request.amount_fen
            )
        except WalletRefused as exc:
            return RefundResult(ResultStatus.FAILED, code=exc.code, message=str(exc))
        except (TimeoutError, sqlite3.OperationalError) as exc:
            return RefundResult(ResultStatus.UNKNOWN, code="TIMEOUT", message=str(exc))
        return _succeeded(credit)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        try:
            credit = self.wallet.find(request.idempotency_key)
        except (TimeoutError, sqlite3.OperationalError) as exc:
            return RefundResult(ResultStatus.UNKNOWN, code="TIMEOUT", message=str(exc))
        if credit is None:
            return RefundResult(ResultStatus.PENDING, code="NOT_FOUND", message="not credited")
        return _succeeded(credit)

    def fetch_bill(self, day: date) -> Iterator[BillRow]:
        """The credits of the Beijing ``day``; BillMissing for a day not over yet."""
        start = datetime.combine(day, time(0), BEIJING)
        end = start + timedelta(days=1)
        if start > datetime.now(UTC):
            raise BillMissing(f"{day} has not begun")
        for credit in self.wallet.credited_between(start, end):
            at = datetime.fromisoformat(credit.credited_at)
            yield BillRow(credit.key, credit.reference, credit.amount_fen, at)


def _succeeded(credit: Credit) -> RefundResult:
    return RefundResult(
        ResultStatus.SUCCEEDED,
        gateway_reference=credit.reference,
        message=f"credited to wallet {credit.account}",
        amount_fen=credit.amount_fen,
        raw={"account": credit.account, "reference": credit.reference},
    )
