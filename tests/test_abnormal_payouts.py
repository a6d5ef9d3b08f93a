"""A WeChat Pay refund in ABNORMAL: held (not failed), the buyer told what happens next, sent on
from the payouts page through apply-abnormal-refund, or set aside when paid another way, after
which a late SUCCESS is raised as a possible double payment. Real simulator, real HTTP."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from refund_portal_wechat.simulator import WechatSimulator, build_notification
from sqlalchemy import select

from portal.domain.states import Role
from portal.extensions import db
from portal.models import Event, Notice, Payment, Payout, RefundCase
from portal.services.actors import Actor
from portal.services.money import payout_ops
from tests import factories as f
from tests.conftest import csrf_from
from tests.test_settlement import approved_case, work

CARD = "6222020200112233445"


@pytest.fixture
def sim(app, tmp_path):
    keys = tmp_path / "keys"
    simulator = WechatSimulator(str(keys), hang_s=1).start()
    app.config.update(DEV_KEYS_DIR=str(keys), WECHAT_GATEWAY_URL=simulator.url, WECHAT_TIMEOUT=2)
    from portal.plugins.startup import init_plugins  # cycle: the app fixture is built first

    init_plugins(app)
    yield simulator
    simulator.stop()


@pytest.fixture
def reviewer(app):
    return Actor(Role.REVIEWER, f.staff("abn").id, "R")


def login(browser, username="abn-rev", role="reviewer"):
    slug = f.merchant().slug if role == "merchant" else None
    f.staff(username, role, slug)
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code in (302, 303)


def held_payout(app, clock, reviewer, sim, mode="abnormal"):
    order = f.order(clock(), channel="wechat", amount_fen=2100)
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    sim.add_trade(payment.gateway_trade_id, payment.merchant_trade_no, 2100)
    sim.misbehave(mode)
    case = approved_case(clock, reviewer, order=order)
    work(app)
    row = db.session.scalar(select(Payout).where(Payout.case_id == case.id))
    payout = SimpleNamespace(
        id=row.id, idempotency_key=row.idempotency_key, state=row.state, last_code=row.last_code
    )
    return SimpleNamespace(order_no=order.order_no), SimpleNamespace(id=case.id), payout


def kinds(**where):
    db.session.expire_all()
    q = select(Event.kind)
    for name, value in where.items():
        q = q.where(getattr(Event, name) == value)
    return list(db.session.scalars(q.order_by(Event.id)))


def notify(client, sim, key):
    refund = sim.ledger.get(key)
    body = build_notification(sim.signer, refund)
    return client.post("/callbacks/wechat", data=body, headers=sim.signer.headers(body))


def test_abnormal_is_held_and_the_buyer_is_told_what_happens_next(
    app, clock, reviewer, sim, browser
):
    order, case, payout = held_payout(app, clock, reviewer, sim)
    assert payout.state == "abnormal" and payout.last_code == "ABNORMAL"
    assert db.session.get(RefundCase, case.id).state == "refunding"  # not failed
    assert "payout_abnormal" in kinds(payout_id=payout.id)
    audiences = set(
        db.session.scalars(select(Notice.audience).where(Notice.kind == "payout_abnormal"))
    )
    assert audiences == {"buyer", "staff"}
    work(app)  # the settlement job does not query a held payout again and again
    assert kinds(payout_id=payout.id).count("payout_abnormal") == 1
    r = browser.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code in (302, 303)
    en = browser.get(f"/orders/{order.order_no}").get_data(as_text=True)
    assert "The money is held, not lost" in en
    zh = browser.get(f"/orders/{order.order_no}", headers={"Accept-Language": "zh-CN"})
    page = zh.get_data(as_text=True)
    assert "款项由支付渠道暂存" in page and "The money is held" not in page


def test_operator_sends_it_on_to_the_buyers_card(app, clock, reviewer, sim, browser):
    _order, case, payout = held_payout(app, clock, reviewer, sim)
    login(browser)
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert f"/review/payouts/{payout.id}/redirect" in page and "ICBC_DEBIT" in page
    r = browser.submit(
        "/review/payouts/",
        f"/review/payouts/{payout.id}/redirect",
        {
            "to": "buyer_card",
            "bank": "ICBC_DEBIT",
            "card_no": "6222 0202 0011 2233 445",
            "holder_name": "张三",
        },
    )
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "pending"
    [event] = db.session.scalars(
        select(Event).where(Event.kind == "payout_redirected", Event.payout_id == payout.id)
    ).all()
    assert event.data["card"] == "6222***********3445" and event.data["bank"] == "ICBC_DEBIT"
    assert sim.ledger.get(payout.idempotency_key).received_account == "ICBC_DEBIT尾号3445"
    work(app)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "succeeded"
    assert db.session.get(RefundCase, case.id).state == "refunded"
    stored = json.dumps([e.data for e in db.session.scalars(select(Event))], ensure_ascii=False)
    stored += json.dumps(db.session.get(Payout, payout.id).last_raw, ensure_ascii=False)
    assert CARD not in stored and "张三" not in stored  # never kept


def test_operator_sends_it_to_the_merchants_account(app, clock, reviewer, sim, browser):
    _order, _case, payout = held_payout(app, clock, reviewer, sim)
    login(browser)
    r = browser.submit(
        "/review/payouts/", f"/review/payouts/{payout.id}/redirect", {"to": "merchant_account"}
    )
    assert r.status_code == 303
    work(app)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "succeeded"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"to": "buyer_card", "bank": "VISA", "card_no": CARD, "holder_name": "张三"}, "bank"),
        (
            {
                "to": "buyer_card",
                "bank": "ICBC_DEBIT",
                "card_no": "62220202abc12233",
                "holder_name": "张三",
            },
            "12 to 19 digits",
        ),
        (
            {"to": "buyer_card", "bank": "ICBC_DEBIT", "card_no": "6" * 40, "holder_name": "张三"},
            "12 to 19 digits",
        ),
        (
            {
                "to": "buyer_card",
                "bank": "ICBC_DEBIT",
                "card_no": CARD + "\x00",
                "holder_name": "张三",
            },
            "control character",
        ),
        (
            {"to": "buyer_card", "bank": "ICBC_DEBIT", "card_no": CARD, "holder_name": ""},
            "real name",
        ),
        (
            {
                "to": "buyer_card",
                "bank": "ICBC_DEBIT",
                "card_no": CARD,
                "holder_name": "张\u202e三",
            },
            "real name",
        ),
        (
            {"to": "buyer_card", "bank": "ICBC_DEBIT", "card_no": CARD, "holder_name": "x" * 51},
            "50",
        ),
        (
            {"to": "somewhere", "bank": "ICBC_DEBIT", "card_no": CARD, "holder_name": "张三"},
            "Not a valid choice",
        ),
    ],
)
def test_hostile_redirect_input_is_refused_before_the_gateway(
    app, clock, reviewer, sim, browser, fields, message
):
    _order, _case, payout = held_payout(app, clock, reviewer, sim)
    login(browser)
    r = browser.submit("/review/payouts/", f"/review/payouts/{payout.id}/redirect", fields)
    assert r.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert message in page
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "abnormal"
    assert sim.ledger.get(payout.idempotency_key).status == "ABNORMAL"  # nothing was sent
    assert "payout_redirected" not in kinds(payout_id=payout.id)


def test_redirect_needs_a_token_a_reviewer_and_a_held_payout(app, clock, reviewer, sim, browser):
    _order, _case, payout = held_payout(app, clock, reviewer, sim)
    data = {"to": "merchant_account"}
    anonymous = browser.client.post(f"/review/payouts/{payout.id}/redirect", data=data)
    assert anonymous.status_code in (302, 303, 400, 401)  # no token, no session: refused
    login(browser, "abn-shop", "merchant")
    assert browser.client.post(f"/review/payouts/{payout.id}/redirect", data=data).status_code in (
        400,
        403,
    )
    browser.client.post("/staff/logout", data={})
    browser = type(browser)(app.test_client())
    login(browser)
    no_token = browser.client.post(f"/review/payouts/{payout.id}/redirect", data=data)
    assert no_token.status_code == 400
    page = browser.get("/review/payouts/").get_data(as_text=True)
    token = csrf_from(page)
    missing = browser.client.post(
        "/review/payouts/999999/redirect", data={**data, "csrf_token": token}
    )
    assert missing.status_code == 303
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "abnormal"


def test_a_refused_redirect_is_kept_and_the_payout_stays_held(app, clock, reviewer, sim, browser):
    _order, _case, payout = held_payout(app, clock, reviewer, sim)
    sim.ledger.recover(payout.idempotency_key)  # meanwhile paid from the console
    login(browser)
    browser.submit(
        "/review/payouts/", f"/review/payouts/{payout.id}/redirect", {"to": "merchant_account"}
    )
    assert "refused to send the refund on" in browser.get("/review/payouts/").get_data(as_text=True)
    assert "payout_redirect_refused" in kinds(payout_id=payout.id)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "abnormal"


def test_success_after_abnormal_settles_the_payout(app, clock, reviewer, sim, client):
    _order, case, payout = held_payout(app, clock, reviewer, sim)
    assert sim.recover(payout.idempotency_key)  # WeChat Pay: ABNORMAL, then SUCCESS by itself
    r = notify(client, sim, payout.idempotency_key)
    assert r.status_code == 204
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "succeeded"
    assert db.session.get(RefundCase, case.id).state == "refunded"
    assert "payout_late_success" not in kinds(payout_id=payout.id)


def test_paid_another_way_then_success_is_raised_once(app, clock, reviewer, sim, client, browser):
    _order, case, payout = held_payout(app, clock, reviewer, sim)
    payout_ops.pay_another_way(payout.id, reviewer, "bank transfer", "card closed; paid by hand")
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "failed"
    assert "payout_set_aside" in kinds(payout_id=payout.id)
    assert db.session.get(RefundCase, case.id).state == "refunded"
    assert sim.recover(payout.idempotency_key)  # yet WeChat Pay pays it after all
    for _ in range(3):  # WeChat Pay resends until answered: each one acknowledged
        r = notify(client, sim, payout.idempotency_key)
        assert r.status_code == 204
    assert kinds(payout_id=payout.id).count("payout_late_success") == 1
    assert (
        len(
            db.session.scalars(select(Notice).where(Notice.kind == "possible_double_payment")).all()
        )
        == 1
    )
    login(browser)
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "Possible double payments" in page
    refund_id = sim.ledger.get(payout.idempotency_key).refund_id
    assert refund_id in page
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "failed"  # not silently rewritten
