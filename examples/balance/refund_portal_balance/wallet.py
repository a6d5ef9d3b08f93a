"""The store-credit wallet ledger the balance channel keeps (one SQLite file).

A buyer who paid from their shop balance is refunded back to it. The ledger records
each purchase paid from a wallet (``record_payment``) and each refund credited back
(``credit``), one row per idempotency key: the same key twice credits once, and the
credits of a purchase never exceed what it captured (checked inside one write
transaction, so two processes cannot both pass the check).
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS payments (
    trade_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    captured_fen INTEGER NOT NULL CHECK (captured_fen > 0)
);
CREATE TABLE IF NOT EXISTS credits (
    key TEXT PRIMARY KEY,
    trade_id TEXT NOT NULL REFERENCES payments(trade_id),
    account TEXT NOT NULL,
    amount_fen INTEGER NOT NULL CHECK (amount_fen > 0),
    reference TEXT NOT NULL UNIQUE,
    credited_at TEXT NOT NULL DEFAULT ''
);
"""


class WalletRefused(Exception):
    """A final refusal: nothing was credited (``code`` says why)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Credit:
    """One refund credited to a wallet."""

    key: str
    trade_id: str
    account: str
    amount_fen: int
    reference: str
    credited_at: str = ""  # ISO 8601, UTC


class Wallet:
    """The ledger in ``path``; safe to share between processes (SQLite write locks)."""

    def __init__(self, path: str | Path, busy_timeout_s: float = 5.0) -> None:
        self.path = str(path)
        self.busy_timeout_s = busy_timeout_s
        db = sqlite3.connect(self.path, timeout=busy_timeout_s)
        try:
            db.executescript(SCHEMA)
        finally:
            db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def record_payment(self, trade_id: str, account: str, captured_fen: int) -> None:
        """A purchase paid from ``account``'s balance (what refunds may go back to)."""
        with self._tx() as db:
            db.execute(
                "INSERT INTO payments (trade_id, account, captured_fen) VALUES (?, ?, ?)",
                (trade_id, account, captured_fen),
            )

    def credit(self, key: str, trade_id: str, amount_fen: int) -> Credit:
        """Credit a refund once per key; WalletRefused for an unknown trade or an over-refund."""
        with self._tx() as db:
            row = db.execute(
                "SELECT key, trade_id, account, amount_fen, reference, credited_at FROM credits "
                "WHERE key = ?",
                (key,),
            ).fetchone()
            if row is not None:
                done = Credit(*row)
                if (done.trade_id, done.amount_fen) != (trade_id, amount_fen):
                    raise WalletRefused(
                        "DISCORDANT_REPEAT", f"key {key} was used for another refund"
                    )
                return done
            payment = db.execute(
                "SELECT account, captured_fen FROM payments WHERE trade_id = ?", (trade_id,)
            ).fetchone()
            if payment is None:
                raise WalletRefused("TRADE_NOT_FOUND", f"no wallet payment {trade_id}")
            account, captured = payment
            (credited,) = db.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM credits WHERE trade_id = ?", (trade_id,)
            ).fetchone()
            if credited + amount_fen > captured:
                raise WalletRefused(
                    "NOT_ENOUGH",
                    f"only {captured - credited} fen of {captured} is left to refund",
                )
            credit = Credit(
                key,
                trade_id,
                account,
                amount_fen,
                "BAL" + secrets.token_hex(8).upper(),
                datetime.now(UTC).isoformat(),
            )
            db.execute(
                "INSERT INTO credits (key, trade_id, account, amount_fen, reference, credited_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    credit.key,
                    credit.trade_id,
                    credit.account,
                    credit.amount_fen,
                    credit.reference,
                    credit.credited_at,
                ),
            )
            return credit

    def find(self, key: str) -> Credit | None:
        """The refund credited under ``key``, if any."""
        with self._tx() as db:
            row = db.execute(
                "SELECT key, trade_id, account, amount_fen, reference, credited_at FROM credits "
                "WHERE key = ?",
                (key,),
            ).fetchone()
        return None if row is None else Credit(*row)

    def credits(self, key: str | None = None) -> list[Credit]:
        """Every credit (money movement), optionally under one key."""
        sql = "SELECT key, trade_id, account, amount_fen, reference, credited_at FROM credits"
        with self._tx() as db:
            rows = db.execute(sql + (" WHERE key = ?" if key else ""), (key,) if key else ())
            return [Credit(*row) for row in rows.fetchall()]

    def credited_between(self, start: datetime, end: datetime) -> list[Credit]:
        """Credits made from ``start`` (inclusive) to ``end`` (exclusive), oldest first."""
        sql = (
            "SELECT key, trade_id, account, amount_fen, reference, credited_at FROM credits"
            " WHERE credited_at >= ? AND credited_at < ? ORDER BY credited_at"
        )
        bounds = (start.astimezone(UTC).isoformat(), end.astimezone(UTC).isoformat())
        with self._tx() as db:
            return [Credit(*row) for row in db.execute(sql, bounds).fetchall()]

    def balance_fen(self, account: str) -> int:
        """Store credit refunded to ``account`` so far."""
        with self._tx() as db:
            (total,) = db.execute(
                "SELECT COALESCE(SUM(amount_fen), 0) FROM credits WHERE account = ?", (account,)
            ).fetchone()
        return int(total)
