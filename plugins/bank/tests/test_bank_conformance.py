"""The portal's conformance kit, run against BankChannel and the bank simulator.

Money moves when the bank executes a pain.001 batch, not in ``execute_refund``: the
target's ``settle`` exports the refund in a batch (once per key, as the core exports a
payout once), lets the simulated bank book it, and reads the result off the camt.053
statement through the channel, as the core does.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime

import pytest
from refund_portal_bank.batch import CHINA_STANDARD_TIME
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.plugin import debtor_from_settings
from refund_portal_bank.simulator import statement_for

from portal.plugins.channels import PaymentRef, RefundRequest, RefundResult, ResultStatus
from portal.plugins.conformance import (
    ChannelConformance,
    ConformanceTarget,
    NotSupported,
)

CARD = {
    "account_name": "张三",
    "account_no": "6222021234567890123",
    "bank_name": "中国工商银行",
}
NOW = datetime(2025, 3, 3, 10, 30, 0, tzinfo=CHINA_STANDARD_TIME)


class BankTarget(ConformanceTarget):
    """BankChannel with the simulated bank's booked statement lines as the money movements."""

    refuses_over_refunds = False  # a bank transfer knows nothing of the card payment's total

    def __init__(self) -> None:
        self.channel = BankChannel(debtor_from_settings({}))
        self.booked: Counter[str] = Counter()
        self.exported: set[str] = set()

    def new_payment(self, captured_fen: int) -> PaymentRef:
        trade = "ORD-" + uuid.uuid4().hex[:12]
        return PaymentRef("bank", "T-" + trade, trade, captured_fen, extra=dict(CARD))

    def movements(self, idempotency_key: str) -> int:
        return self.booked[idempotency_key]

    def settle(self, request: RefundRequest, result: RefundResult) -> RefundResult:
        if result.status is not ResultStatus.PENDING:
            return result
        if request.idempotency_key not in self.exported:
            self.exported.add(request.idempotency_key)
            batch = self.channel.export_batch([request], "pain.001", now=NOW)
            for line in self.channel.reconcile_statement(statement_for(batch)):
                if line.status is ResultStatus.SUCCEEDED:
                    self.booked[line.idempotency_key] += 1
        if self.booked[request.idempotency_key]:
            return RefundResult(ResultStatus.SUCCEEDED, request.idempotency_key, "booked")
        return result

    def time_out_next_call_after_moving_money(self) -> None:
        raise NotSupported("bank payouts move no money in execute_refund: nothing to time out")

    def unreachable_channel(self):
        raise NotSupported("the bank channel calls no gateway: its check is offline")


@pytest.fixture
def conformance_target() -> BankTarget:
    return BankTarget()


class TestBankConformance(ChannelConformance):
    """Every check of the kit, for bank transfers."""
