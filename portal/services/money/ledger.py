"""Posting money movements and reading balances; called inside the use case's transaction.

Balances are always derived from postings. ``check`` proves the books: every
transaction balances, and no merchant's available balance is below zero except by
an explicitly recorded overdraft.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ScalarSelect, func, insert, select

from portal.domain import ledger as rules
from portal.domain.freeze_states import FreezeState
from portal.domain.ledger import Entry
from portal.domain.ledger_kinds import LedgerKind
from portal.domain.money import format_yuan
from portal.domain.payout_states import PayoutState
from portal.extensions import db
from portal.models import Freeze, LedgerTransaction, Merchant, Order, Payout, Posting
from portal.services import context
from portal.services.actors import SYSTEM, Actor
from portal.services.dml import inserted_id
from portal.services.errors import DomainError
from portal.services.policy_text import N_
from portal.services.refunds.transitions import move_freeze


def post(
    kind: LedgerKind,
    entries: list[Entry],
    *,
    merchant_id: int | None = None,
    order_id: int | None = None,
    case_id: int | None = None,
    payout_id: int | None = None,
    memo: str = "",
    overdraft: bool = False,
) -> int:
    """Write one balanced transaction (no commit: it joins the caller's transaction); its id."""
    rules.check_balanced(entries)
    txn_id = inserted_id(
        db.session.execute(
            insert(LedgerTransaction.__table__).values(
                kind=kind,
                merchant_id=merchant_id,
                order_id=order_id,
                case_id=case_id,
                payout_id=payout_id,
                memo=memo[:200],
                overdraft=overdraft,
                created_at=context.now(),
            )
        )
    )
    db.session.execute(  # one executemany for the legs
        insert(Posting.__table__),
        [{"txn_id": txn_id, "account": e.account, "amount_fen": e.amount_fen} for e in entries],
    )
    return txn_id


def balance(account: str) -> int:
    """The account's balance: the sum of its postings."""
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Posting.amount_fen), 0)).where(Posting.account == account)
        )
        or 0  # never NULL (coalesce); typed as optional
    )


@dataclass(frozen=True)
class MerchantBalances:
    """What a merchant sees: available, frozen, refunds decided so far and how much of that
    has arrived with the buyers (the rest is still on its way: a bank batch, say)."""

    available_fen: int
    frozen_fen: int
    refunded_fen: int
    arrived_fen: int = 0

    @property
    def in_progress_fen(self) -> int:
        """Refunds decided whose money has not arrived yet."""
        return max(0, self.refunded_fen - self.arrived_fen)


def merchant_balances(merchant_id: int) -> MerchantBalances:
    """Balances of a merchant, derived from postings: one statement (four sums as subqueries),
    as the shop's pages show them beside their own lists."""
    available, frozen = rules.available(merchant_id), rules.frozen(merchant_id)

    def total(account: str) -> ScalarSelect[int]:
        return (
            select(func.coalesce(func.sum(Posting.amount_fen), 0))
            .where(Posting.account == account)
            .scalar_subquery()
        )

    refunded = (
        select(func.coalesce(func.sum(-Posting.amount_fen), 0))
        .join(LedgerTransaction, LedgerTransaction.id == Posting.txn_id)
        .where(
            LedgerTransaction.kind == LedgerKind.REFUND, Posting.account.in_([available, frozen])
        )
        .scalar_subquery()
    )
    arrived = (
        select(func.coalesce(func.sum(Payout.amount_fen), 0))
        .join(Order, Order.id == Payout.order_id)
        .where(Order.merchant_id == merchant_id, Payout.state == str(PayoutState.SUCCEEDED))
        .scalar_subquery()
    )
    row = db.session.execute(select(total(available), total(frozen), refunded, arrived)).one()
    return MerchantBalances(*(int(value or 0) for value in row))


def record_payment(order: Order) -> int:
    """An order was paid: the money is held in escrow."""
    payment = order.payment
    assert payment is not None, "an order is paid through a payment"
    return post(
        LedgerKind.PAYMENT,
        rules.move(payment.captured_fen, rules.external(payment.channel), rules.ESCROW),
        merchant_id=order.merchant_id,
        order_id=order.id,
        memo=order.order_no,
    )


def settle_to_merchant(order: Order) -> int:
    """Hand an order's money from escrow to the merchant's available balance."""
    payment = order.payment
    assert payment is not None, "an order is paid through a payment"
    return post(
        LedgerKind.SETTLEMENT,
        rules.move(payment.captured_fen, rules.ESCROW, rules.available(order.merchant_id)),
        merchant_id=order.merchant_id,
        order_id=order.id,
        memo=order.order_no,
    )


def _settled(order: Order) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(
                LedgerTransaction.order_id == order.id,
                LedgerTransaction.kind == LedgerKind.SETTLEMENT,
            )
        )
    )


def freeze(case_id: int, order: Order, amount_fen: int) -> Freeze:
    """Freeze part of the merchant's available balance for a disputed case."""
    merchant_id = order.merchant_id
    lock_merchant(merchant_id)
    if amount_fen > balance(rules.available(merchant_id)):
        raise DomainError(
            N_("The merchant holds only %(a)s yuan; cannot freeze more than that."),
            rule="freeze_over",
            a=format_yuan(balance(rules.available(merchant_id))),
        )
    row = Freeze(
        case_id=case_id, merchant_id=merchant_id, amount_fen=amount_fen, created_at=context.now()
    )
    db.session.add(row)
    post(
        LedgerKind.FREEZE,
        rules.move(amount_fen, rules.available(merchant_id), rules.frozen(merchant_id)),
        merchant_id=merchant_id,
        order_id=order.id,
        case_id=case_id,
        memo="dispute",
    )
    return row


def release(row: Freeze, memo: str = "released", actor: Actor = SYSTEM) -> None:
    """Give frozen funds back to the merchant's available balance (once: a freeze released or
    applied meanwhile is left alone)."""
    amount, merchant_id, case_id = row.amount_fen, row.merchant_id, row.case_id
    if row.state != FreezeState.FROZEN:
        return
    if not move_freeze(row, FreezeState.RELEASED, actor, ended_at=context.now()):
        return
    post(
        LedgerKind.RELEASE,
        rules.move(amount, rules.frozen(merchant_id), rules.available(merchant_id)),
        merchant_id=merchant_id,
        case_id=case_id,
        memo=memo,
    )


def charge_refund(
    case_id: int, order: Order, amount_fen: int, payout_id: int | None, actor: Actor = SYSTEM
) -> None:
    """A refund was decided: refunds payable, from frozen funds, the merchant or escrow."""
    merchant_id = order.merchant_id
    entries: list[Entry] = []
    remaining = amount_fen
    frozen_rows = db.session.scalars(
        select(Freeze).where(Freeze.case_id == case_id, Freeze.state == FreezeState.FROZEN)
    ).all()
    for row in frozen_rows:
        frozen_fen = row.amount_fen
        if not move_freeze(row, FreezeState.APPLIED, actor, ended_at=context.now()):
            continue  # released or applied meanwhile: not ours to use
        use = min(frozen_fen, remaining)
        if use:
            entries += rules.move(use, rules.frozen(merchant_id), rules.REFUNDS_PAYABLE)
            remaining -= use
        if frozen_fen > use:  # the part not needed goes back to the merchant
            entries += rules.move(
                frozen_fen - use, rules.frozen(merchant_id), rules.available(merchant_id)
            )
    overdraft = False
    if remaining:
        if _settled(order):
            lock_merchant(merchant_id)
            # the buyer is paid back even when the merchant's balance cannot cover it; the
            # shortfall is an overdraft, recorded on the transaction for the operator to recover
            overdraft = balance(rules.available(merchant_id)) < remaining
            entries += rules.move(remaining, rules.available(merchant_id), rules.REFUNDS_PAYABLE)
        else:
            entries += rules.move(remaining, rules.ESCROW, rules.REFUNDS_PAYABLE)
    post(
        LedgerKind.REFUND,
        _net(entries),
        merchant_id=merchant_id,
        order_id=order.id,
        case_id=case_id,
        payout_id=payout_id,
        overdraft=overdraft,
        memo="refund decided",
    )


def record_payout(
    payout_id: int | None,
    merchant_id: int,
    order_id: int,
    channel: str,
    amount_fen: int,
    back: bool = False,
) -> None:
    """A payout left (or, when ``back``, came back) through its channel."""
    entries = rules.move(amount_fen, rules.REFUNDS_PAYABLE, rules.external(channel))
    if back:
        entries = rules.move(amount_fen, rules.external(channel), rules.REFUNDS_PAYABLE)
    post(
        LedgerKind.PAYOUT_RETURNED if back else LedgerKind.PAYOUT,
        entries,
        merchant_id=merchant_id,
        order_id=order_id,
        payout_id=payout_id,
    )


def lock_merchant(merchant_id: int) -> None:
    """Serialise balance checks for one merchant (row lock on PostgreSQL)."""
    db.session.scalar(select(Merchant.id).where(Merchant.id == merchant_id).with_for_update())


@dataclass(frozen=True)
class BooksReport:
    """The result of checking the books."""

    transactions: int
    unbalanced: tuple[int, ...]
    negative_without_overdraft: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether the books are sound."""
        return not self.unbalanced and not self.negative_without_overdraft


def check() -> BooksReport:
    """Every transaction balances; no available balance is negative without a recorded overdraft."""
    sums = db.session.execute(
        select(Posting.txn_id, func.sum(Posting.amount_fen)).group_by(Posting.txn_id)
    ).all()
    unbalanced = tuple(txn for txn, total in sums if total != 0)
    negatives = []
    for account, total in db.session.execute(
        select(Posting.account, func.sum(Posting.amount_fen))
        .where(Posting.account.like("merchant:%:available"))
        .group_by(Posting.account)
    ):
        if total < 0:
            merchant_id = int(account.split(":")[1])
            recorded = db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(
                    LedgerTransaction.merchant_id == merchant_id,
                    LedgerTransaction.overdraft.is_(True),
                )
            )
            if not recorded:
                negatives.append(account)
    return BooksReport(len(sums), unbalanced, tuple(negatives))


def _net(entries: list[Entry]) -> list[Entry]:
    """Combine postings per account (dropping zeros), keeping the first-seen order."""
    totals: dict[str, int] = {}
    for e in entries:
        totals[e.account] = totals.get(e.account, 0) + e.amount_fen
    return [Entry(a, v) for a, v in totals.items() if v]
