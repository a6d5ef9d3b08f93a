"""The simulated gateway's own books: trades, refunds per out_request_no, real money movements."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


@dataclass
class Trade:
    """A paid trade that can be refunded."""

    trade_no: str
    out_trade_no: str
    total_fen: int
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # out_request_no -> refund
    notify_url: str = ""  # the payment's notify_url (the shop's): refund notifications go there
    bank_card: bool = False  # paid by bank card: refunds go back to the card, days later
    gmt_payment: str = ""

    @property
    def refunded_fen(self) -> int:
        return sum(r["amount_fen"] for r in self.refunds.values())


class RefundError(Exception):
    """A business refusal: (sub_code, sub_msg)."""

    def __init__(self, sub_code: str, sub_msg: str) -> None:
        super().__init__(sub_msg)
        self.sub_code, self.sub_msg = sub_code, sub_msg


class Ledger:
    """Thread-safe refund bookkeeping that honours ``out_request_no`` like Alipay."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.trades: dict[str, Trade] = {}
        self.movements: list[dict[str, Any]] = []
        #: the gateway's clock (aware); tests set it to move the gateway's day
        self.clock: Callable[[], datetime] = lambda: datetime.now(CHINA)

    def add_trade(
        self,
        trade_no: str,
        out_trade_no: str,
        total_fen: object,
        notify_url: str = "",
        bank_card: bool = False,
    ) -> None:
        if not trade_no or not out_trade_no:
            raise ValueError("a trade needs a trade_no and an out_trade_no")
        if not isinstance(total_fen, int) or isinstance(total_fen, bool) or total_fen <= 0:
            raise ValueError(f"total_fen must be a positive int, not {total_fen!r}")
        with self._lock:
            paid = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")
            self.trades[trade_no] = Trade(
                trade_no, out_trade_no, total_fen, {}, notify_url, bank_card, paid
            )

    def find(self, trade_no: str | None, out_trade_no: str | None) -> Trade:
        with self._lock:
            for t in self.trades.values():
                if (trade_no and t.trade_no == trade_no) or (
                    not trade_no and out_trade_no and t.out_trade_no == out_trade_no
                ):
                    return t
        raise RefundError("ACQ.TRADE_NOT_EXIST", "交易不存在")

    def refund(
        self, trade: Trade, key: str, amount_fen: int, reason: str, deposit_back: bool = False
    ) -> tuple[dict[str, Any], bool]:
        """Refund once per key: (refund, moved_now). Same key, other amount: DISCORDANT."""
        with self._lock:
            existing = trade.refunds.get(key)
            if existing is not None:
                if existing["amount_fen"] != amount_fen:
                    raise RefundError("ACQ.DISCORDANT_REPEAT_REQUEST", "请求信息不一致")
                return existing, False
            if amount_fen <= 0 or trade.refunded_fen + amount_fen > trade.total_fen:
                raise RefundError("ACQ.REASON_TRADE_REFUND_FEE_ERR", "退款金额超限")
            refund = {
                "out_request_no": key,
                "amount_fen": amount_fen,
                "reason": reason,
                "deposit_back": deposit_back and trade.bank_card,
                "gmt_refund": self.clock().astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
            }
            trade.refunds[key] = refund
            self.movements.append(
                {"trade_no": trade.trade_no, "out_request_no": key, "amount_fen": amount_fen}
            )
            return refund, True

    def clear(self) -> None:
        """Forget every trade and movement."""
        with self._lock:
            self.trades.clear()
            self.movements.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "trades": [
                    {
                        "trade_no": t.trade_no,
                        "out_trade_no": t.out_trade_no,
                        "total_fen": t.total_fen,
                        "refunded_fen": t.refunded_fen,
                    }
                    for t in self.trades.values()
                ],
                "movements": list(self.movements),
            }
