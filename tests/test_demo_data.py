"""The demo's situations are made through the services, so each shows what it claims to."""

from __future__ import annotations

import pytest
from flask import Flask
from refund_portal_bank.channel import BankChannel
from refund_portal_bank.plugin import debtor_from_settings
from sqlalchemy import func

from portal.dev import bankday, demo
from portal.domain.payout_states import PayoutState
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role, State
from portal.extensions import db
from portal.models import Event, Order, Payout, RefundCase
from portal.plugins.manager import ChannelRegistry
from portal.services.actors import Actor
from portal.services.integration import orders
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser
from tests.fakes import FakeChannel, FakeGateway
from tests.test_settlement import work


class StandIn(FakeChannel):
    """The fake gateway under one of the demo's channel ids."""

    def __init__(self, gateway: FakeGateway, channel_id: str) -> None:
        super().__init__(gateway)
        self.id = channel_id


def test_the_cancelled_demo_order_was_cancelled_and_refunds_itself(app, client, clock, gateway):
    app.extensions["portal.plugins.channels"] = ChannelRegistry(
        [StandIn(gateway, cid) for cid in ("alipay", "wechat", "bank")]
    )
    assert demo.load()
    order = db.session.scalar(db.select(Order).where(Order.order_no == "DEMO1006"))
    assert order is not None and order.cancelled_at is not None
    case = db.session.scalar(db.select(RefundCase).where(RefundCase.order_id == order.id))
    assert case is not None and case.reason == str(Reason.CANCELLED)
    assert case.amount_requested_fen == order.amount_fen
    assert orders.refundable_fen(order) == 0
    browser = Browser(client)
    r = browser.submit(
        "/",
        "/lookup",
        {"order_no": "DEMO1006", "contact": demo.CONTACT, "password": demo.QUERY_PASSWORD},
    )
    assert r.status_code == 303 and r.headers["Location"].endswith("/orders/DEMO1006")
    page = client.get("/orders/DEMO1006", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "取消" in text and "DEMO1006" in text  # the order page itself, in Chinese
    assert "仍可退款" not in text and "申请退款" not in text, text


def demo_with_bank(app: Flask, gateway: FakeGateway) -> None:
    """The demo loaded with the real bank channel and stand-ins for the online gateways."""
    app.extensions["portal.plugins.channels"] = ChannelRegistry(
        [
            BankChannel(debtor_from_settings({})),
            *(StandIn(gateway, cid) for cid in ("alipay", "wechat")),
        ]
    )
    assert demo.load()


def test_the_demo_bank_day_pays_a_pending_bank_refund_once(app, clock, gateway):
    demo_with_bank(app, gateway)
    order = db.session.scalar(db.select(Order).where(Order.order_no == "DEMO1010"))
    assert order is not None
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, order.amount_fen, "无法充值")
    )
    reviewer = f.staff("bankday")
    cases.approve(case, Actor(Role.REVIEWER, reviewer.id, "R"), None, "ok")
    work(app)  # the payout is handed to the bank channel: pending until a statement shows it
    payout = db.session.scalar(db.select(Payout).where(Payout.case_id == case.id))
    assert payout is not None and payout.state == str(PayoutState.PENDING)

    day = bankday.run_bank_day()
    assert day.exported == 1 and day.applied == 1 and day.batch_ref
    db.session.expire_all()
    assert db.session.get_one(Payout, payout.id).state == str(PayoutState.SUCCEEDED)
    assert db.session.get_one(RefundCase, case.id).state == str(State.REFUNDED)
    assert bankday.run_bank_day() == bankday.BankDay(None, 0, 0)  # nothing left: nothing again


def test_the_demo_bank_refuses_to_run_where_real_money_moves(app, gateway):
    demo_with_bank(app, gateway)
    app.config.update(TESTING=False, ENVIRONMENT="production")
    with pytest.raises(bankday.NotDevelopment):
        bankday.run_bank_day()
    assert (
        db.session.scalar(
            db.select(func.count()).select_from(Event).where(Event.kind == "statement_imported")
        )
        == 0
    )
