"""The portal's conformance kit, run against WechatChannel and the WeChat Pay simulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from refund_portal_wechat import crypto
from refund_portal_wechat.simulator import WechatSimulator, build_notification

from portal.plugins.channels import PaymentRef, RefundRequest
from portal.plugins.conformance import ChannelConformance, ConformanceTarget, unreachable_url


class WechatTarget(ConformanceTarget):
    """WechatChannel (1 s timeout) against a simulator that hangs 3 s when told to, both in
    the same key mode (public key, platform certificates, or switching between them)."""

    def __init__(self, keys_dir: str, make_channel, keys, mode: str) -> None:
        self.sim = WechatSimulator(keys_dir, hang_s=3.0, key_mode=mode).start()
        options = {"key_mode": mode}
        if mode != "public_key":
            options["trust_chain"] = keys["WECHAT_PLATFORM_CERT_CA"]
        if mode == "platform_cert":
            options.update(platform_public_key=None, platform_public_key_id=None)
        self.channel = make_channel(self.sim.url, timeout=1.0, **options)
        self._unreachable = lambda: make_channel(unreachable_url(""), timeout=1.0, **options)

    def new_payment(self, captured_fen: int) -> PaymentRef:
        tid = "42" + uuid.uuid4().hex[:26]
        out_trade_no = "T" + uuid.uuid4().hex[:20]
        self.sim.add_trade(tid, out_trade_no, captured_fen)
        return PaymentRef("wechat", tid, out_trade_no, captured_fen)

    def movements(self, idempotency_key: str) -> int:
        return sum(m["out_refund_no"] == idempotency_key for m in self.sim.movements())

    def time_out_next_call_after_moving_money(self) -> None:
        self.sim.misbehave("timeout_after_move")

    def genuine_notification(self, request: RefundRequest) -> tuple[dict[str, str], bytes]:
        refund = self.sim.ledger.get(request.idempotency_key)
        body = build_notification(self.sim.signer, refund)
        return self.sim.signer.headers(body), body

    def forged_notification(self, request: RefundRequest) -> tuple[dict[str, str], bytes]:
        _headers, body = self.genuine_notification(request)
        impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return crypto.signed_headers(impostor, self.sim.signer.serial, body), body

    def bill_faults(self) -> list[str]:
        return ["bill_bad_hash", "bill_bad_gzip", "bill_wrong_encoding", "bill_other_day"]

    def damage_next_bill(self, fault: str) -> None:
        self.sim.misbehave(fault)

    def unreachable_channel(self):
        return self._unreachable()

    def close(self) -> None:
        self.sim.stop()


@pytest.fixture(params=["public_key", "platform_cert", "cert_and_public_key"])
def conformance_target(request, keys_dir, make_channel, keys) -> Iterator[WechatTarget]:
    target = WechatTarget(keys_dir, make_channel, keys, request.param)
    yield target
    target.close()


class TestWechatConformance(ChannelConformance):
    """Every check of the kit, for WeChat Pay."""
