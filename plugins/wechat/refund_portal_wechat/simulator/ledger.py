"""The simulated gateway's books: trades, refunds and money movements.

Holds the business rules WeChat Pay applies to ``POST /v3/refund/domestic/refunds``:
one refund per ``out_refund_no`` (a repeat with the same fields returns the same
refund and moves nothing; different fields are ``INVALID_REQUEST``), never more
refunded than the trade's total, an optional minimum gap between refunds of one
trade, at most 50 refunds a trade. No HTTP here; every method is thread-safe.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CHINA_TZ = timezone(timedelta(hours=8))
MAX_REFUNDS_PER_TRADE = 50
#: statuses a refund can end in; PROCESSING is the only one that still moves
FINAL_STATUSES = ("SUCCESS", "CLOSED", "ABNORMAL")


def wechat_time(epoch: float) -> str:
    """RFC 3339 time in China Standard Time, as WeChat Pay writes it."""
    return datetime.fromtimestamp(epoch, UTC).astimezone(CHINA_TZ).isoformat(timespec="seconds")


@dataclass
class Trade:
    """A captured payment refunds can go back to."""

    transaction_id: str
    out_trade_no: str
    total_fen: int
    last_refund_at: float | None = None  # monotonic time of the last new refund
    refunds: list[Refund] = field(default_factory=list)  # every refund of this trade


@dataclass
class Refund:
    """One refund, identified by the merchant's ``out_refund_no``."""

    refund_id: str
    out_refund_no: str
    transaction_id: str
    out_trade_no: str
    refund_fen: int
    total_fen: int
    currency: str
    reason: str
    notify_url: str
    outcome: str  # the status it will settle into: SUCCESS or ABNORMAL
    created_at: float
    settle_at: float  # wall-clock time from which it is settled
    status: str = "PROCESSING"
    success_at: float | None = None
    #: an ABNORMAL refund that succeeds by itself from this time (as after the merchant
    #: acted in the WeChat Pay console); None: it waits for apply-abnormal-refund
    recover_at: float | None = None
    #: where the money went (``user_received_account``); changed by a redirect
    received_account: str = "支付用户零钱"

    def fingerprint(self) -> tuple[Any, ...]:
        """The business fields a repeat must carry unchanged."""
        return (self.transaction_id, self.refund_fen, self.total_fen, self.currency, self.reason)

    def as_wechat(self) -> dict[str, Any]:
        """The refund as the v3 API returns it."""
        data: dict[str, Any] = {
            "refund_id": self.refund_id,
            "out_refund_no": self.out_refund_no,
            "transaction_id": self.transaction_id,
            "out_trade_no": self.out_trade_no,
            "channel": "ORIGINAL",
            "user_received_account": self.received_account,
            "create_time": wechat_time(self.created_at),
            "status": self.status,
            "funds_account": "AVAILABLE",
            "amount": {
                "total": self.total_fen,
                "refund": self.refund_fen,
                "payer_total": self.total_fen,
                "payer_refund": self.refund_fen,
                "settlement_refund": self.refund_fen,
                "settlement_total": self.total_fen,
                "discount_refund": 0,
                "currency": self.currency,
                "refund_fee": 0,
            },
        }
        if self.success_at is not None:
            data["success_time"] = wechat_time(self.success_at)
        return data


@dataclass
class Answer:
    """What the refund endpoint answers: an HTTP status and a JSON body."""

    status: int
    body: dict[str, Any]
    created: Refund | None = None  # set when this call created (moved money for) a refund


def _error(status: int, code: str, message: str) -> Answer:
    return Answer(status, {"code": code, "message": message})


@dataclass
class Ledger:
    """Trades, refunds and movements of the simulated gateway."""

    settle_delay_s: float = 0.0
    min_refund_interval_s: float = 0.0
    #: how long an "ABNORMAL then SUCCESS" refund stays abnormal before it succeeds by itself
    recover_delay_s: float = 0.2
    trades: dict[str, Trade] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    movements_log: list[dict[str, Any]] = field(default_factory=list)
    #: out_refund_no of the refunds still PROCESSING (the settle tick looks only at these)
    processing: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    #: called (under the lock; keep it quick) whenever a refund reaches its final status
    on_settled: Callable[[Refund], None] | None = None
    #: the gateway's clock (seconds since the epoch); tests set it to move the gateway's day
    clock: Callable[[], float] = time.time

    def add_trade(self, transaction_id: str, out_trade_no: str, total_fen: int) -> Trade:
        """Register a captured payment (replacing one with the same transaction_id)."""
        if not isinstance(total_fen, int) or isinstance(total_fen, bool) or total_fen <= 0:
            raise ValueError("total_fen must be a positive int")
        with self.lock:
            replaced = self.trades.get(transaction_id)
            trade = Trade(transaction_id, out_trade_no, total_fen)
            if replaced is not None:  # what was refunded on it stays refunded
                trade.refunds = replaced.refunds
            self.trades[transaction_id] = trade
            return trade

    def reset(self) -> None:
        """Forget every trade, refund and movement."""
        with self.lock:
            self.trades.clear()
            self.refunds.clear()
            self.movements_log.clear()
            self.processing.clear()

    def _find_trade(self, fields: dict[str, Any]) -> Trade | None:
        tid, otn = fields.get("transaction_id"), fields.get("out_trade_no")
        if tid:
            trade = self.trades.get(str(tid))
            if trade and otn and trade.out_trade_no != otn:
                return None
            return trade
        return next((t for t in self.trades.values() if t.out_trade_no == otn), None)

    def refunded_fen(self, transaction_id: str) -> int:
        """What is refunded or being refunded on a trade (CLOSED refunds excluded)."""
        with self.lock:
            trade = self.trades.get(transaction_id)
            refunds = trade.refunds if trade is not None else []
            return sum(r.refund_fen for r in refunds if r.status != "CLOSED")

    def apply_refund(self, fields: dict[str, Any], outcome: Callable[[], str]) -> Answer:
        """Apply one refund request; ``outcome()`` picks SUCCESS, ABNORMAL or
        ABNORMAL_THEN_SUCCESS for a new one."""
        problem = _validate(fields)
        if problem:
            return _error(400, "PARAM_ERROR", problem)
        amount = fields["amount"]
        with self.lock:
            trade = self._find_trade(fields)
            if trade is None:
                return _error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            key = fields["out_refund_no"]
            wanted = (
                trade.transaction_id,
                amount["refund"],
                amount["total"],
                amount.get("currency", "CNY"),
                fields.get("reason", ""),
            )
            existing = self.refunds.get(key)
            if existing is not None:
                if existing.fingerprint() != wanted:
                    return _error(400, "INVALID_REQUEST", "同一退款单号的请求参数与之前不一致")
                self.settle_due(key)
                return Answer(200, existing.as_wechat())
            return self._create(trade, fields, outcome)

    def _create(self, trade: Trade, fields: dict[str, Any], outcome: Callable[[], str]) -> Answer:
        amount = fields["amount"]
        if amount["total"] != trade.total_fen:
            return _error(400, "INVALID_REQUEST", "订单金额与原订单不一致")
        if amount["refund"] > trade.total_fen:
            return _error(400, "INVALID_REQUEST", "退款金额大于订单金额")
        if self.refunded_fen(trade.transaction_id) + amount["refund"] > trade.total_fen:
            return _error(400, "NOT_ENOUGH", "申请退款金额超过订单可退金额")
        if len(trade.refunds) >= MAX_REFUNDS_PER_TRADE:
            return _error(400, "INVALID_REQUEST", "订单退款次数已超过50次")
        mono = time.monotonic()
        if (
            self.min_refund_interval_s > 0
            and trade.last_refund_at is not None
            and mono - trade.last_refund_at < self.min_refund_interval_s
        ):
            return _error(429, "FREQUENCY_LIMITED", "同一订单的部分退款需间隔1分钟")
        now = self.clock()
        ends = outcome()
        recovers = ends == "ABNORMAL_THEN_SUCCESS"
        refund = Refund(
            refund_id=f"50{secrets.randbelow(10**27):027d}",
            out_refund_no=fields["out_refund_no"],
            transaction_id=trade.transaction_id,
            out_trade_no=trade.out_trade_no,
            refund_fen=amount["refund"],
            total_fen=amount["total"],
            currency=amount.get("currency", "CNY"),
            reason=fields.get("reason", ""),
            notify_url=fields.get("notify_url", ""),
            outcome="ABNORMAL" if recovers else ends,
            created_at=now,
            settle_at=now + self.settle_delay_s,
            recover_at=now + self.settle_delay_s + self.recover_delay_s if recovers else None,
        )
        trade.last_refund_at = mono
        trade.refunds.append(refund)
        self.refunds[refund.out_refund_no] = refund
        self.processing.add(refund.out_refund_no)
        self.movements_log.append(
            {
                "refund_id": refund.refund_id,
                "out_refund_no": refund.out_refund_no,
                "transaction_id": refund.transaction_id,
                "out_trade_no": refund.out_trade_no,
                "amount_fen": refund.refund_fen,
                "at": wechat_time(now),
            }
        )
        self.settle_due(refund.out_refund_no)
        return Answer(200, refund.as_wechat(), created=refund)

    def settle_due(self, out_refund_no: str) -> bool:
        """Settle a PROCESSING refund whose time has come, or let an ABNORMAL one that
        recovers by itself succeed; True if it changed now."""
        with self.lock:
            refund = self.refunds.get(out_refund_no)
            now = self.clock()
            if refund is None:
                return False
            if refund.status == "PROCESSING" and now >= refund.settle_at:
                refund.status = refund.outcome
            elif refund.status == "ABNORMAL" and refund.recover_at is not None:
                if now < refund.recover_at:
                    return False
                refund.status, refund.recover_at = "SUCCESS", None
            else:
                return False
            if refund.status == "SUCCESS":
                refund.success_at = now
            if refund.recover_at is None:
                self.processing.discard(out_refund_no)
            if self.on_settled is not None:
                self.on_settled(refund)
            return True

    def by_refund_id(self, refund_id: str) -> Refund | None:
        """The refund with WeChat Pay's id ``refund_id`` (settled first if due), or None."""
        with self.lock:
            refund = next((r for r in self.refunds.values() if r.refund_id == refund_id), None)
            if refund is not None:
                self.settle_due(refund.out_refund_no)
            return refund

    def send_on(self, refund: Refund, received_account: str) -> None:
        """An ABNORMAL refund sent on (apply-abnormal-refund): PROCESSING, then SUCCESS to
        ``received_account`` after the settle delay. The money moved once, at creation."""
        with self.lock:
            refund.status, refund.outcome = "PROCESSING", "SUCCESS"
            refund.received_account = received_account
            refund.settle_at, refund.recover_at = self.clock() + self.settle_delay_s, None
            self.processing.add(refund.out_refund_no)
            self.settle_due(refund.out_refund_no)

    def recover(self, out_refund_no: str) -> bool:
        """An ABNORMAL refund succeeds now, as when the merchant acted in the WeChat Pay
        console; False if there is no such abnormal refund."""
        with self.lock:
            refund = self.refunds.get(out_refund_no)
            if refund is None or refund.status != "ABNORMAL":
                return False
            refund.recover_at = 0.0
            self.processing.add(out_refund_no)
            return self.settle_due(out_refund_no)

    def settle_all_due(self) -> None:
        """Settle every PROCESSING refund whose settle time has come."""
        with self.lock:
            for key in list(self.processing):
                self.settle_due(key)

    def get(self, out_refund_no: str) -> Refund | None:
        """The refund with this number (settled first if due), or None."""
        with self.lock:
            self.settle_due(out_refund_no)
            return self.refunds.get(out_refund_no)

    def movements(self, transaction_id: str | None = None) -> list[dict[str, Any]]:
        """Money movements (one per refund created), optionally for one trade."""
        with self.lock:
            return [
                dict(m)
                for m in self.movements_log
                if transaction_id is None or m["transaction_id"] == transaction_id
            ]

    def snapshot(self) -> dict[str, Any]:
        """Everything, JSON-ready (for ``GET /__sim__/ledger``)."""
        with self.lock:
            return {
                "trades": [
                    {
                        "transaction_id": t.transaction_id,
                        "out_trade_no": t.out_trade_no,
                        "total_fen": t.total_fen,
                        "refunded_fen": self.refunded_fen(t.transaction_id),
                    }
                    for t in self.trades.values()
                ],
                "refunds": [r.as_wechat() for r in self.refunds.values()],
                "movements": self.movements(),
            }


def _is_fen(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate(fields: dict[str, Any]) -> str:
    """The first shape problem of a refund request, or '' when it is well formed."""
    key = fields.get("out_refund_no")
    if not isinstance(key, str) or not 1 <= len(key) <= 64:
        return "out_refund_no must be 1..64 characters"
    if not (fields.get("transaction_id") or fields.get("out_trade_no")):
        return "transaction_id or out_trade_no is required"
    amount = fields.get("amount")
    if not isinstance(amount, dict):
        return "amount is required"
    if not (_is_fen(amount.get("refund")) and _is_fen(amount.get("total"))):
        return "amount.refund and amount.total must be integers (fen)"
    if amount["refund"] <= 0 or amount["total"] <= 0:
        return "amounts must be positive"
    if amount.get("currency", "CNY") != "CNY":
        return "currency must be CNY"
    for name in ("reason", "notify_url", "transaction_id", "out_trade_no"):
        if name in fields and not isinstance(fields[name], str):
            return f"{name} must be a string"
    return ""
