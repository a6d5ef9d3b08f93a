"""The portal's conformance kit, run against AlipayChannel and the Alipay simulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from urllib.parse import urlencode

import pytest
from refund_portal_alipay import signing
from refund_portal_alipay.amounts import fen_to_yuan
from refund_portal_alipay.channel import CHINA
from refund_portal_alipay.plugin import channel_from_settings
from refund_portal_alipay.simulator import AlipaySimulator

from portal.plugins.channels import ChannelServices, PaymentRef, RefundRequest
from portal.plugins.conformance import ChannelConformance, ConformanceTarget, unreachable_url

CHINA_TIME = "%Y-%m-%d %H:%M:%S"


class AlipayTarget(ConformanceTarget):
    """AlipayChannel (1 s timeout) against a simulator that hangs 3 s when told to."""

    def __init__(self, keys_dir) -> None:
        self.keys_dir = keys_dir
        self.sim = AlipaySimulator(keys_dir, hang_s=3, late_s=0.5).start()
        self.channel = channel_from_settings(
            {"ALIPAY_GATEWAY_URL": self.sim.url, "ALIPAY_TIMEOUT": "1"},
            ChannelServices(dev_keys_dir=str(keys_dir)),
        )

    def new_payment(self, captured_fen: int) -> PaymentRef:
        trade_no = "2026" + uuid.uuid4().hex[:24]
        out_trade_no = "PAY-" + uuid.uuid4().hex[:12]
        self.sim.add_trade(trade_no, out_trade_no, captured_fen)
        return PaymentRef("alipay", trade_no, out_trade_no, captured_fen)

    def movements(self, idempotency_key: str) -> int:
        return sum(m["out_request_no"] == idempotency_key for m in self.sim.movements())

    def time_out_next_call_after_moving_money(self) -> None:
        self.sim.misbehave("timeout_after_move")

    def _notification(self, request: RefundRequest, private_key) -> tuple[dict[str, str], bytes]:
        """The refund notification with Alipay's documented fields, signed by ``private_key``."""
        trade = self.sim._sim["ledger"].trades[request.payment.gateway_trade_id]
        done = trade.refunds[request.idempotency_key]
        params = {
            "notify_time": datetime.now(CHINA).strftime(CHINA_TIME),
            "notify_type": "trade_status_sync",
            "notify_id": uuid.uuid4().hex,
            "app_id": self.sim.keys["ALIPAY_APP_ID"],
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "out_biz_no": request.idempotency_key,
            "total_amount": fen_to_yuan(trade.total_fen),
            "refund_fee": fen_to_yuan(trade.refunded_fen),  # the trade's running total
            "gmt_refund": done["gmt_refund"] + ".000",
            "trade_status": "TRADE_CLOSED",
        }
        params["sign"] = signing.sign(
            signing.string_to_sign(params, ("sign", "sign_type")), private_key
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return headers, urlencode(params).encode()

    def genuine_notification(self, request: RefundRequest) -> tuple[dict[str, str], bytes]:
        gateway = signing.load_private(self.sim.keys["ALIPAY_GATEWAY_PRIVATE_KEY"])
        return self._notification(request, gateway)

    def forged_notification(self, request: RefundRequest) -> tuple[dict[str, str], bytes]:
        impostor = signing.load_private(self.sim.keys["ALIPAY_APP_PRIVATE_KEY"])  # not Alipay's
        return self._notification(request, impostor)

    def bill_faults(self) -> list[str]:
        return ["bill_bad_zip", "bill_wrong_encoding", "bill_other_day", "bill_no_detail"]

    def damage_next_bill(self, fault: str) -> None:
        self.sim.misbehave(fault)

    def unreachable_channel(self):
        return channel_from_settings(
            {"ALIPAY_GATEWAY_URL": unreachable_url("/gateway.do"), "ALIPAY_TIMEOUT": "1"},
            ChannelServices(dev_keys_dir=str(self.keys_dir)),
        )

    def close(self) -> None:
        self.sim.stop()


@pytest.fixture
def conformance_target(tmp_path) -> Iterator[AlipayTarget]:
    target = AlipayTarget(tmp_path / "keys")
    yield target
    target.close()


class TestAlipayConformance(ChannelConformance):
    """Every check of the kit, for Alipay."""
