"""The refund-portal conformance kit, run against the store-credit channel."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from refund_portal_balance.channel import BalanceChannel
from refund_portal_balance.simulator import SimulatedWallet

from portal.plugins.channels import PaymentRef, RefundRequest
from portal.plugins.conformance import ChannelConformance, ConformanceTarget, NotSupported


class Target(ConformanceTarget):
    """The channel on a simulated wallet in a temporary ledger file."""

    def __init__(self, path: Path) -> None:
        self.wallet = SimulatedWallet(path)
        self.channel = BalanceChannel(self.wallet)

    def new_payment(self, captured_fen: int) -> PaymentRef:
        trade = "W" + uuid.uuid4().hex[:16]
        self.wallet.record_payment(trade, "buyer-" + trade[-4:], captured_fen)
        return PaymentRef("balance", trade, "ORD-" + trade, captured_fen)

    def movements(self, idempotency_key: str) -> int:
        return len(self.wallet.credits(idempotency_key))

    def time_out_next_call_after_moving_money(self) -> None:
        self.wallet.misbehave("timeout_after_move")

    def genuine_notification(self, request: RefundRequest) -> tuple[dict[str, str], bytes]:
        raise NotSupported("wallet credits are booked synchronously; nothing is notified")

    forged_notification = genuine_notification


@pytest.fixture
def conformance_target(tmp_path: Path) -> Iterator[Target]:
    target = Target(tmp_path / "wallet.sqlite3")
    yield target
    target.close()


class TestConformance(ChannelConformance):
    """Every check of the kit."""
