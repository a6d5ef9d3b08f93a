"""Dispute paths end to end through the services, with the ledger checked after every step."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.domain import ledger as accounts
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Freeze, Offer, Payout, RefundCase
from portal.services.actors import BUYER, Actor
from portal.services.errors import DomainError, Forbidden
from portal.services.money import ledger
from portal.services.refunds import cases, disputes
from tests import factories as f
from tests.test_settlement import work


@pytest.fixture
def world(app, clock):
    shop = f.merchant("shop")
    other = f.merchant("other-shop")
    db.session.commit()
    r1, r2 = f.staff("rev-a"), f.staff("rev-b")
    m_user = f.staff("shop-staff", "merchant", "shop")
    o_user = f.staff("other-staff", "merchant", "other-shop")
    return {
        "shop": shop,
        "rev_a": Actor(Role.REVIEWER, r1.id, "A"),
        "rev_b": Actor(Role.REVIEWER, r2.id, "B"),
        "merchant": Actor(Role.MERCHANT, m_user.id, "shop", merchant_id=shop.id),
        "other_merchant": Actor(Role.MERCHANT, o_user.id, "other", merchant_id=other.id),
    }


def paid_and_settled(clock, shop, amount=10000):
    order = f.order(clock(), m=shop, amount_fen=amount)
    ledger.record_payment(order)
    ledger.settle_to_merchant(order)
    db.session.commit()
    return order


def new_case(order, amount=None):
    return cases.apply_for_refund(
        order,
        cases.ApplyInput(
            Kind.REFUND_ONLY, Reason.NOT_AS_DESCRIBED, amount or order.amount_fen, "5 not 50"
        ),
    )


def books_ok():
    report = ledger.check()
    assert report.ok, report


def test_refuse_negotiate_offer_counter_accept_pays_the_agreed_amount(app, clock, world, gateway):
    shop, merchant = world["shop"], world["merchant"]
    order = paid_and_settled(clock, shop)
    case = new_case(order)
    disputes.merchant_refuse(case, merchant, "The code worked when we checked")
    assert db.session.get(RefundCase, case.id).state == "negotiating"
    disputes.post_message(case, BUYER, "It says invalid region")
    first = disputes.make_offer(case, merchant, 3000, "30 yuan as goodwill")
    counter = disputes.make_offer(case, BUYER, 7000, "70 at least")
    db.session.expire_all()
    assert db.session.get(Offer, first.id).state == "countered"
    with pytest.raises(DomainError, match="already countered"):
        disputes.accept_offer(case, BUYER, first.id)
    with pytest.raises(DomainError, match="your own offer"):
        disputes.accept_offer(case, BUYER, counter.id)
    books_ok()
    disputes.accept_offer(case, merchant, counter.id)
    db.session.expire_all()
    c = db.session.get(RefundCase, case.id)
    assert c.state == "refunding" and c.amount_approved_fen == 7000
    work(app)
    assert db.session.get(RefundCase, case.id).state == "refunded"
    assert [a for _, a in gateway.movements] == [7000]
    assert ledger.merchant_balances(shop.id).available_fen == 3000
    assert ledger.balance(accounts.REFUNDS_PAYABLE) == 0
    books_ok()
    kinds = db.session.scalars(
        select(Event.kind).where(Event.case_id == case.id).order_by(Event.id)
    ).all()
    assert kinds.count("offer") == 2 and "message" in kinds and "offer_accepted" in kinds
    roles = db.session.scalars(
        select(Event.actor_role).where(Event.kind.in_(["offer", "message"]))
    ).all()
    assert set(roles) == {"merchant", "buyer"}


def test_reject_appeal_freeze_buyer_wins_paid_from_frozen_funds(app, clock, world, gateway):
    shop = world["shop"]
    order = paid_and_settled(clock, shop)
    paid_and_settled(clock, shop, 5000)  # the merchant holds 150 yuan
    case = new_case(order)
    cases.reject(case, world["rev_a"], "Face value matches")
    disputes.appeal(
        db.session.get(RefundCase, case.id), "The listing said 50, I got a 5 yuan card", []
    )
    case = db.session.get(RefundCase, case.id)
    assert case.state == "appealed" and case.appeal_count == 1
    disputes.freeze_funds(case, world["rev_b"], None)
    bal = ledger.merchant_balances(shop.id)
    assert (bal.available_fen, bal.frozen_fen) == (5000, 10000)
    books_ok()
    with pytest.raises(Forbidden, match="other than the one who rejected"):
        cases.approve(case, world["rev_a"])
    cases.approve(
        db.session.get(RefundCase, case.id), world["rev_b"], None, "listing was misleading"
    )
    bal = ledger.merchant_balances(shop.id)  # decided, not paid out yet: on its way
    assert (bal.refunded_fen, bal.arrived_fen, bal.in_progress_fen) == (10000, 0, 10000)
    work(app)
    bal = ledger.merchant_balances(shop.id)
    assert (bal.available_fen, bal.frozen_fen, bal.refunded_fen) == (5000, 0, 10000)
    assert (bal.arrived_fen, bal.in_progress_fen) == (10000, 0)
    assert db.session.scalar(select(Freeze.state)) == "applied"
    assert db.session.get(RefundCase, case.id).state == "refunded"
    assert [a for _, a in gateway.movements] == [10000]
    books_ok()


def test_reject_appeal_freeze_buyer_loses_funds_released(app, clock, world):
    shop = world["shop"]
    order = paid_and_settled(clock, shop)
    case = new_case(order)
    cases.reject(case, world["rev_a"], "No proof")
    disputes.appeal(db.session.get(RefundCase, case.id), "Here is the chat record proving it", [])
    disputes.freeze_funds(db.session.get(RefundCase, case.id), world["rev_b"], 4000)
    assert ledger.merchant_balances(shop.id).frozen_fen == 4000
    cases.reject(db.session.get(RefundCase, case.id), world["rev_b"], "Chat shows the code worked")
    bal = ledger.merchant_balances(shop.id)
    assert (bal.available_fen, bal.frozen_fen) == (10000, 0)
    assert db.session.scalar(select(Freeze.state)) == "released"
    with pytest.raises(DomainError, match="already been appealed"):
        disputes.appeal(db.session.get(RefundCase, case.id), "Once more, please reconsider", [])
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    books_ok()


def test_freezing_more_than_the_merchant_holds_or_disputed_is_refused(app, clock, world):
    shop = world["shop"]
    order = f.order(clock(), m=shop, amount_fen=10000)  # paid but not settled: merchant holds 0
    ledger.record_payment(order)
    db.session.commit()
    case = new_case(order)
    cases.reject(case, world["rev_a"], "no")
    disputes.appeal(db.session.get(RefundCase, case.id), "Please look again at the evidence", [])
    case = db.session.get(RefundCase, case.id)
    txns = ledger.check().transactions
    with pytest.raises(DomainError, match=r"holds only 0\.00"):
        disputes.freeze_funds(case, world["rev_b"], 100)
    with pytest.raises(DomainError, match="at most the amount in dispute"):
        disputes.freeze_funds(case, world["rev_b"], 10001)
    assert ledger.check().transactions == txns
    assert db.session.scalar(select(func.count()).select_from(Freeze)) == 0


def test_offer_above_refundable_and_outside_negotiation(app, clock, world):
    order = paid_and_settled(clock, world["shop"])
    case = new_case(order)
    with pytest.raises(DomainError, match=r"at most the refundable 100\.00"):
        disputes.make_offer(case, world["merchant"], 10001)
    with pytest.raises(DomainError, match="not open"):
        disputes.make_offer(case, BUYER, 5000)
    # a merchant offering less than asked opens the negotiation
    disputes.make_offer(case, world["merchant"], 5000, "half")
    assert db.session.get(RefundCase, case.id).state == "negotiating"


def test_merchant_agree_pays_in_full_and_overdraft_is_recorded(app, clock, world, gateway):
    order = f.order(clock(), m=world["shop"], amount_fen=10000)
    ledger.record_payment(order)
    ledger.settle_to_merchant(order)
    db.session.commit()
    # the merchant already withdrew most of it (modelled as a payout of its balance)
    ledger.post(
        "withdrawal",
        accounts.move(9000, accounts.available(world["shop"].id), "external:bank"),
        merchant_id=world["shop"].id,
    )
    db.session.commit()
    case = new_case(order)
    disputes.merchant_agree(case, world["merchant"])
    work(app)
    assert ledger.merchant_balances(world["shop"].id).available_fen == -9000
    report = ledger.check()
    assert report.ok  # negative, but by an explicitly recorded overdraft
    from portal.models import LedgerTransaction

    assert (
        db.session.scalar(
            select(LedgerTransaction.overdraft).where(LedgerTransaction.kind == "refund")
        )
        is True
    )


ACTIONS = ["agree", "refuse", "offer", "message", "freeze", "decide_appeal"]


@pytest.mark.parametrize(
    ("who", "action", "allowed"),
    [
        ("merchant", "agree", True),
        ("other_merchant", "agree", False),
        ("merchant", "refuse", True),
        ("other_merchant", "refuse", False),
        ("other_merchant", "offer", False),
        ("other_merchant", "message", False),
        ("merchant", "freeze", False),
        ("rev_b", "freeze", True),
        ("rev_a", "decide_appeal", False),  # rejected it: may not decide the appeal
        ("rev_b", "decide_appeal", True),
        ("merchant", "decide_appeal", False),
    ],
)
def test_authorization_table(app, clock, world, who, action, allowed):
    actor = world[who]
    order = paid_and_settled(clock, world["shop"])
    case = new_case(order)
    if action in ("offer", "message"):
        disputes.merchant_refuse(case, world["merchant"], "no")
    if action in ("freeze", "decide_appeal"):
        cases.reject(case, world["rev_a"], "no")
        disputes.appeal(db.session.get(RefundCase, case.id), "Please look at it again", [])
    case = db.session.get(RefundCase, case.id)
    events_before = db.session.scalar(select(func.count()).select_from(Event))
    run = {
        "agree": lambda: disputes.merchant_agree(case, actor),
        "refuse": lambda: disputes.merchant_refuse(case, actor, "no"),
        "offer": lambda: disputes.make_offer(case, actor, 100, "x"),
        "message": lambda: disputes.post_message(case, actor, "hello"),
        "freeze": lambda: disputes.freeze_funds(case, actor, 100),
        "decide_appeal": lambda: cases.approve(case, actor),
    }[action]
    if allowed:
        run()
        assert db.session.scalar(select(func.count()).select_from(Event)) > events_before
    else:
        with pytest.raises(DomainError):
            run()
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Event)) == events_before
