"""A wallet that misbehaves on request, for the tests: the balance channel's simulator.

``misbehave("timeout_after_move")`` makes the next credit commit and then raise
:class:`WalletTimeout` (the caller does not learn that the money moved);
``misbehave("locked")`` makes the next call fail before touching the ledger.
"""

from __future__ import annotations

import threading

from refund_portal_balance.wallet import Credit, Wallet

MODES = ("timeout_after_move", "locked")


class WalletTimeout(TimeoutError):
    """No answer from the wallet: the credit may or may not have happened."""


class SimulatedWallet(Wallet):
    """A real :class:`Wallet` plus injected faults."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._faults: list[str] = []
        self._lock = threading.Lock()

    def misbehave(self, mode: str) -> None:
        """Misbehave once in ``mode`` (one of MODES)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
        with self._lock:
            self._faults.append(mode)

    def _take(self, mode: str) -> bool:
        with self._lock:
            if mode in self._faults:
                self._faults.remove(mode)
                return True
            return False

    def credit(self, key: str, trade_id: str, amount_fen: int) -> Credit:
        if self._take("locked"):
            raise WalletTimeout("database is locked")
        credit = super().credit(key, trade_id, amount_fen)
        if self._take("timeout_after_move"):
            raise WalletTimeout("credited, but the answer was lost")
        return credit
