"""What the balance pages read: funds frozen for a case, a shop's open freezes, its history.

The totals themselves (available, frozen, refunded) come from ``ledger.merchant_balances``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Row, func, select

from portal.domain import ledger as accounts
from portal.domain.freeze_states import FreezeState
from portal.extensions import db
from portal.models import Freeze, LedgerTransaction, Posting, RefundCase


def frozen_for_case(case_id: int) -> int:
    """Fen currently frozen for the case (the sum of its freezes not yet released or used)."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(Freeze.amount_fen), 0)).where(
            Freeze.case_id == case_id, Freeze.state == FreezeState.FROZEN
        )
    )
    return int(total or 0)  # never NULL (coalesce); scalar() is typed as optional


def open_freezes(merchant_id: int) -> list[Freeze]:
    """The shop's freezes that still hold money, oldest first."""
    return list(
        db.session.scalars(
            select(Freeze)
            .where(Freeze.merchant_id == merchant_id, Freeze.state == FreezeState.FROZEN)
            .order_by(Freeze.id)
        )
    )


def case_numbers(freezes: Iterable[Freeze]) -> dict[int, str]:
    """Case id -> case number for the cases that froze these parts."""
    ids = {f.case_id for f in freezes}
    if not ids:
        return {}
    rows = db.session.execute(
        select(RefundCase.id, RefundCase.case_no).where(RefundCase.id.in_(ids))
    )
    return {case_id: case_no for case_id, case_no in rows}


def history(merchant_id: int, limit: int = 100) -> list[Row[tuple[LedgerTransaction, Posting]]]:
    """The latest postings on the shop's available and frozen accounts, newest first."""
    mine = [accounts.available(merchant_id), accounts.frozen(merchant_id)]
    return list(
        db.session.execute(
            select(LedgerTransaction, Posting)
            .join(Posting, Posting.txn_id == LedgerTransaction.id)
            .where(Posting.account.in_(mine))
            .order_by(LedgerTransaction.id.desc())
            .limit(limit)
        )
    )
