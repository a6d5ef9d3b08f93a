"""Double-entry bookkeeping rules in fen: account names and balanced entries (pure).

Every business event that moves money is one transaction of postings whose signed
amounts sum to zero. A positive balance means the account holds that much.

Accounts:
- ``external:<channel>``: money that came in from, or went back out to, the world
  through a payment channel (goes negative as buyers pay in);
- ``escrow``: paid orders the platform holds before settling them to the merchant;
- ``merchant:<id>:available`` / ``merchant:<id>:frozen``: the merchant's balance, and
  the part frozen while a dispute is open;
- ``refunds_payable``: refunds decided but not yet paid out to buyers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ESCROW = "escrow"
REFUNDS_PAYABLE = "refunds_payable"


def external(channel: str) -> str:
    """The outside world, through one channel."""
    return f"external:{channel}"


def available(merchant_id: int) -> str:
    """A merchant's available balance."""
    return f"merchant:{merchant_id}:available"


def frozen(merchant_id: int) -> str:
    """The part of a merchant's balance frozen for disputes."""
    return f"merchant:{merchant_id}:frozen"


@dataclass(frozen=True)
class Entry:
    """One posting: a signed amount on an account."""

    account: str
    amount_fen: int


class Unbalanced(ValueError):
    """Postings that do not sum to zero (or hold a zero or non-integer amount)."""


def move(amount_fen: int, source: str, target: str) -> list[Entry]:
    """Move ``amount_fen`` from ``source`` to ``target``: two postings that balance."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool) or amount_fen <= 0:
        raise Unbalanced(f"amount must be a positive integer of fen, not {amount_fen!r}")
    return [Entry(source, -amount_fen), Entry(target, amount_fen)]


def check_balanced(entries: Iterable[Entry]) -> None:
    """Raise Unbalanced unless the entries are non-zero integers summing to zero."""
    total = 0
    count = 0
    for e in entries:
        if not isinstance(e.amount_fen, int) or e.amount_fen == 0:
            raise Unbalanced(f"bad posting {e!r}")
        total += e.amount_fen
        count += 1
    if count < 2 or total != 0:
        raise Unbalanced(f"{count} postings sum to {total}, not 0")
