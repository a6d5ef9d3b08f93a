"""The ledger balances after every step of random sequences of payments, settlements,
freezes, releases, refunds and payouts (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.domain import ledger as accounts
from portal.domain.ledger import Unbalanced, check_balanced, move
from portal.extensions import db
from portal.models import Freeze
from portal.services.errors import DomainError
from portal.services.money import ledger
from tests import factories as f


def test_move_and_check_balanced():
    entries = move(5, "a", "b")
    check_balanced(entries)
    with pytest.raises(Unbalanced):
        move(0, "a", "b")
    with pytest.raises(Unbalanced):
        check_balanced(entries[:1])
    with pytest.raises(Unbalanced):
        check_balanced([*entries, accounts.Entry("c", 1)])


def case_for(order):
    """A bare case row for an order (the ledger only needs its id)."""
    from portal.models import RefundCase

    case = RefundCase(
        case_no=f"L{order.id}",
        order_id=order.id,
        merchant_id=order.merchant_id,
        kind="refund_only",
        reason="unusable",
        amount_requested_fen=order.amount_fen,
        state="appealed",
    )
    db.session.add(case)
    db.session.flush()
    return case


step = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 20000)),
    st.tuples(st.just("settle"), st.integers(0, 30)),
    st.tuples(st.just("freeze"), st.integers(0, 30), st.integers(1, 20000)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("refund"), st.integers(0, 30), st.integers(1, 20000)),
    st.tuples(st.just("payout"), st.integers(0, 30)),
)


def test_ledger_balances_after_every_step(app, clock):
    m = f.merchant()
    db.session.commit()

    @settings(
        max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(st.lists(step, min_size=1, max_size=25))
    def run(steps):
        base_payable = ledger.balance(accounts.REFUNDS_PAYABLE)
        orders = []
        owed = []
        settled = set()
        for s in steps:
            try:
                if s[0] == "pay":
                    o = f.order(clock(), m=m, amount_fen=s[1])
                    ledger.record_payment(o)
                    orders.append((o, case_for(o)))
                elif s[0] == "settle" and orders:
                    o, _ = orders[s[1] % len(orders)]
                    if o.id not in settled:
                        ledger.settle_to_merchant(o)
                        settled.add(o.id)
                elif s[0] == "freeze" and orders:
                    o, case = orders[s[1] % len(orders)]
                    ledger.freeze(case.id, o, s[2])
                elif s[0] == "release":
                    rows = db.session.scalars(
                        db.select(Freeze).where(Freeze.state == "frozen")
                    ).all()
                    if rows:
                        ledger.release(rows[s[1] % len(rows)])
                elif s[0] == "refund" and orders:
                    o, case = orders[s[1] % len(orders)]
                    ledger.charge_refund(case.id, o, s[2], None)
                    owed.append((o, s[2]))
                elif s[0] == "payout" and owed:
                    o, amount = owed.pop(s[1] % len(owed))
                    ledger.record_payout(None, o.merchant_id, o.id, "fakepay", amount)
                db.session.commit()
            except DomainError:
                db.session.rollback()
            report = ledger.check()
            assert report.ok, report
            # money is conserved: every account together sums to zero
            total = db.session.scalar(
                db.select(db.func.coalesce(db.func.sum(ledger.Posting.amount_fen), 0))
            )
            assert total == 0
            assert ledger.balance(accounts.frozen(m.id)) >= 0
            assert ledger.balance(accounts.REFUNDS_PAYABLE) == base_payable + sum(
                a for _, a in owed
            )

    run()
