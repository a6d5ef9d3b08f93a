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


def test_the_held_demo_refund_is_abnormal_at_wechat_and_an_operator_sends_it_on(
    app, clock, gateway, tmp_path, browser
):
    """DEMO1012 goes through the services to the WeChat simulator (real HTTP), which holds it
    as ABNORMAL; the payouts page offers apply-abnormal-refund, and it then succeeds."""
    from refund_portal_wechat.simulator import WechatSimulator

    from portal.dev import devsims
    from portal.plugins.startup import init_plugins
    from tests.test_abnormal_payouts import login

    keys = tmp_path / "keys"
    sim = WechatSimulator(str(keys), hang_s=1).start()
    try:
        app.config.update(DEV_KEYS_DIR=str(keys), WECHAT_GATEWAY_URL=sim.url, WECHAT_TIMEOUT=2)
        init_plugins(app)
        wechat = app.extensions["portal.plugins.channels"].get("wechat")
        app.extensions["portal.plugins.channels"] = ChannelRegistry(
            [wechat, BankChannel(debtor_from_settings({})), StandIn(gateway, "alipay")]
        )
        assert demo.load()
        env = {"PORTAL_WECHAT_GATEWAY_URL": sim.url}
        assert devsims.register_trades(env) >= 4  # the demo's WeChat payments, DEMO1012's too
        assert devsims.hold_demo_refund(env)
        work(app)
        order = db.session.scalar(db.select(Order).where(Order.order_no == demo.HELD_ORDER))
        case = db.session.scalar(db.select(RefundCase).where(RefundCase.order_id == order.id))
        payout = db.session.scalar(db.select(Payout).where(Payout.case_id == case.id))
        assert payout.channel == "wechat" and payout.state == str(PayoutState.ABNORMAL)
        assert case.state == str(State.REFUNDING)  # held, not failed
        assert not devsims.hold_demo_refund(env)  # once it reached WeChat, never again
        # used up by DEMO1012: a buyer's later WeChat refund (DEMO1002) is not held
        assert sim.pending_misbehaviour() == {}

        login(browser)
        page = browser.get("/review/payouts/").get_data(as_text=True)
        action = f"/review/payouts/{payout.id}/redirect"
        assert action in page
        r = browser.submit(
            "/review/payouts/",
            action,
            {"to": "buyer_card", "bank": "ICBC_DEBIT", "card_no": "6222020200112233445",
             "holder_name": "张三"},
        )  # fmt: skip
        assert r.status_code == 303
        work(app)
        db.session.expire_all()
        assert db.session.get_one(Payout, payout.id).state == str(PayoutState.SUCCEEDED)
        assert db.session.get_one(RefundCase, case.id).state == str(State.REFUNDED)
    finally:
        sim.stop()


def test_the_held_demo_order_is_only_applied_for_without_wechat(app, gateway):
    """Without the WeChat channel the demo still loads; DEMO1012 waits for review instead."""
    app.extensions["portal.plugins.channels"] = ChannelRegistry(
        [StandIn(gateway, cid) for cid in ("alipay", "bank")]
    )
    assert demo.load()
    order = db.session.scalar(db.select(Order).where(Order.order_no == demo.HELD_ORDER))
    case = db.session.scalar(db.select(RefundCase).where(RefundCase.order_id == order.id))
    assert case.state == str(State.SUBMITTED)
    assert db.session.scalar(db.select(Payout).where(Payout.case_id == case.id)) is None
