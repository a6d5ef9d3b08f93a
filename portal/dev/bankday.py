"""The demo's bank: export the pending bank payouts and import the statement a bank would send.

In production a bank payout settles only when the bank's real statement is imported. The demo
has no bank, so ``refund-portal demo-bank-statement`` plays its part with the bank plugin's
simulator. It refuses to run outside development: a made-up statement marks payouts paid.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from portal.config import is_development
from portal.services.actors import SYSTEM
from portal.services.errors import DomainError
from portal.services.money import batches

BANK = "bank"
FORMAT = "pain.001"


class NotDevelopment(RuntimeError):
    """The demo bank was asked to run where real money moves."""


@dataclass(frozen=True)
class BankDay:
    """One simulated bank day: the batch written and what its statement settled."""

    batch_ref: str | None
    exported: int
    applied: int


def run_bank_day() -> BankDay:
    """Export every pending bank payout (if any) and import the simulated statement."""
    if not is_development(current_app.config):
        raise NotDevelopment(
            "demo-bank-statement runs only with PORTAL_ENVIRONMENT=development: "
            "a simulated statement marks bank payouts as paid"
        )
    # optional: the bank plugin's simulator, only the demo imports it
    from refund_portal_bank.simulator import statement_for

    try:
        batch = batches.export_batch(SYSTEM, BANK, FORMAT)
    except DomainError as exc:
        if exc.rule == "empty_batch":
            return BankDay(None, 0, 0)
        raise
    report = batches.import_statement(SYSTEM, BANK, statement_for(batch.content))
    return BankDay(batch.ref, len(batch.payout_ids), report.applied)
