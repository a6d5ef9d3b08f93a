"""A scriptable in-process payout channel for core tests (real gateways: plugin tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from portal import hookimpl
from portal.plugins.channels import (
    ArrivalWindow,
    Notification,
    NotificationRejected,
    NotificationReply,
    PaymentRef,
    PayoutChannel,
    RefundRequest,
    RefundResult,
    ResultStatus,
)
from portal.plugins.words import Words

SECRET = b"fake-gateway-secret"


class FakeGateway:
    """Holds refunds by key, like a gateway: the same key never moves money twice."""

    def __init__(self) -> None:
        self.refunds: dict[str, int] = {}
        self.movements: list[tuple[str, int]] = []
        self.script: list[
            str
        ] = []  # next behaviours: "ok", "unknown_after_move", "unknown", "fail", "pending"
        self.calls: list[tuple[str, str]] = []

    def refund(self, request: RefundRequest) -> RefundResult:
        self.calls.append(("execute", request.idempotency_key))
        mode = self.script.pop(0) if self.script else "ok"
        if mode == "fail":
            return RefundResult(ResultStatus.FAILED, code="TRADE_CLOSED", message="trade closed")
        if mode == "unknown":
            return RefundResult(ResultStatus.UNKNOWN, code="SYSTEM_ERROR", message="try later")
        if request.idempotency_key not in self.refunds:
            self.refunds[request.idempotency_key] = request.amount_fen
            self.movements.append((request.idempotency_key, request.amount_fen))
        if mode == "unknown_after_move":
            return RefundResult(ResultStatus.UNKNOWN, code="TIMEOUT", message="timed out")
        if mode == "pending":
            return RefundResult(ResultStatus.PENDING, "REF-" + request.idempotency_key)
        return RefundResult(
            ResultStatus.SUCCEEDED, "REF-" + request.idempotency_key, amount_fen=request.amount_fen
        )

    def query(self, request: RefundRequest) -> RefundResult:
        self.calls.append(("query", request.idempotency_key))
        if request.idempotency_key in self.refunds:
            return RefundResult(ResultStatus.SUCCEEDED, "REF-" + request.idempotency_key)
        return RefundResult(ResultStatus.PENDING, code="NOT_FOUND")


class FakeChannel(PayoutChannel):
    """Channel 'fakepay' over a FakeGateway; notifications signed with an HMAC header."""

    id = "fakepay"
    label = Words(zh="测试支付", en="Fake Pay")

    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway

    def arrival(self, payment: PaymentRef) -> ArrivalWindow:
        return ArrivalWindow("working_days", 0, 2)

    def execute_refund(self, request: RefundRequest) -> RefundResult:
        return self.gateway.refund(request)

    def query_refund(self, request: RefundRequest) -> RefundResult:
        return self.gateway.query(request)

    def parse_notification(self, headers: Mapping[str, str], body: bytes):
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("X-Fake-Signature", "")):
            raise NotificationRejected("bad signature")
        data = json.loads(body)
        note = Notification(
            idempotency_key=data["key"],
            status=ResultStatus(data["status"]),
            amount_fen=data.get("amount_fen"),
            gateway_reference=data.get("ref", ""),
            gateway_trade_id=data.get("trade", ""),
            raw=data,
        )
        return note, NotificationReply(200, b"OK")


def signed(payload: dict) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-Fake-Signature": hmac.new(SECRET, body, hashlib.sha256).hexdigest()}


class FakePlugin:
    def __init__(self, gateway: FakeGateway) -> None:
        self.gateway = gateway

    @hookimpl
    def register_payout_channels(self, settings):
        return [FakeChannel(self.gateway)]


def noop(i: int) -> int:
    """A job that does nothing, for the queue's tests."""
    return i
