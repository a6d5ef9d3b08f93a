"""Bank card refunds end to end: approve, batch file, bank statement, a returned transfer."""

from __future__ import annotations

import io

import pytest
from refund_portal_bank.simulator import statement_for
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, Payout, RefundCase
from portal.services.refunds import cases
from tests import factories as f
from tests.test_settlement import approved_case, work

CARD = {"account_name": "张三", "account_no": "6222020200112233445", "bank_name": "中国工商银行"}


@pytest.fixture
def operator(browser):
    from portal.domain.states import Role
    from portal.services.actors import Actor

    user = f.staff("ops")
    browser.submit("/staff/login", "/staff/login", {"username": "ops", "password": "password-123"})
    return Actor(Role.REVIEWER, user.id, "ops")


def test_bank_payout_waits_for_the_statement(app, browser, clock, operator):
    orders = [f.order(clock(), channel="bank", extra=CARD, amount_fen=a) for a in (12345, 1)]
    case_ids = [approved_case(clock, operator, order=o).id for o in orders]
    work(app)
    payouts = db.session.scalars(select(Payout).order_by(Payout.id)).all()
    assert [p.state for p in payouts] == ["pending", "pending"]
    # bank: 1-3 working days; Tuesday + 3 working days
    assert all(p.expected_arrival_at == clock().replace(day=clock().day + 3) for p in payouts)

    r = browser.submit("/review/payouts/", "/review/payouts/bank/export", {"format": "pain.001"})
    assert r.status_code == 200 and r.mimetype == "application/xml"
    pain = r.data
    assert b"123.45" in pain and b"0.01" in pain and payouts[0].idempotency_key.encode() in pain
    # exported once: a second export has nothing to put in a file
    again = browser.submit("/review/payouts/", "/review/payouts/bank/export", {"format": "csv"})
    assert again.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "No payouts are waiting for export" in page

    statement = statement_for(pain, returned={payouts[1].idempotency_key: "AC04"})
    r = browser.submit(
        "/review/payouts/",
        "/review/payouts/bank/statement",
        {"statement": (io.BytesIO(statement), "camt053.xml")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    # two bookings and one return applied
    assert "Statement imported: 3 applied, 0 already known, 0 unmatched." in page
    db.session.expire_all()
    p0, p1 = db.session.scalars(select(Payout).order_by(Payout.id)).all()
    assert p0.state == "succeeded"
    assert p1.state == "returned" and "AC04" in p1.last_message
    assert db.session.get(RefundCase, case_ids[0]).state == "refunded"
    assert db.session.get(RefundCase, case_ids[1]).state == "payout_failed"

    # importing the same statement again changes nothing
    browser.submit(
        "/review/payouts/",
        "/review/payouts/bank/statement",
        {"statement": (io.BytesIO(statement), "camt053.xml")},
        content_type="multipart/form-data",
    )
    db.session.expire_all()
    assert [p.state for p in db.session.scalars(select(Payout).order_by(Payout.id))] == [
        "succeeded",
        "returned",
    ]

    # the operator retries the returned one: same key, back into the next batch
    key = p1.idempotency_key
    assert (
        browser.submit("/review/payouts/", f"/review/payouts/{p1.id}/retry", {}).status_code == 303
    )
    work(app)
    db.session.expire_all()
    p1 = db.session.get(Payout, p1.id)
    assert p1.idempotency_key == key and p1.state == "pending" and p1.exported_at is None
    assert db.session.get(RefundCase, case_ids[1]).state == "refunding"


def test_garbage_statement_is_refused_and_nothing_changes(app, browser, clock, operator):
    order = f.order(clock(), channel="bank", extra=CARD)
    approved_case(clock, operator, order=order)
    work(app)
    events_before = db.session.scalar(select(db.func.count()).select_from(Event))
    r = browser.submit(
        "/review/payouts/",
        "/review/payouts/bank/statement",
        {"statement": (io.BytesIO(b"<not-camt/>"), "x.xml")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    page = browser.get("/review/payouts/").get_data(as_text=True)
    assert "statement was refused" in page
    assert db.session.scalar(select(Payout.state)) == "pending"
    assert db.session.scalar(select(db.func.count()).select_from(Event)) == events_before


def test_manual_route_needs_a_recorded_decision(app, browser, clock, operator, gateway):
    gateway.script = ["fail"]
    case = approved_case(clock, operator)
    work(app)
    payout = db.session.scalar(select(Payout))
    r = browser.submit(
        "/review/payouts/", f"/review/payouts/{payout.id}/manual", {"route": "", "note": ""}
    )
    assert db.session.get(RefundCase, case.id).state == "payout_failed"
    r = browser.submit(
        "/review/payouts/",
        f"/review/payouts/{payout.id}/manual",
        {"route": "bank transfer", "note": "WeChat ABNORMAL: card closed; paid to new card"},
    )
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(RefundCase, case.id).state == "refunded"
    manual = db.session.scalars(select(Payout).where(Payout.channel.like("manual:%"))).one()
    assert manual.state == "succeeded" and manual.amount_fen == payout.amount_fen
    ev = db.session.scalars(select(Event).where(Event.kind == "payout_manual_route")).one()
    assert "card closed" in ev.reason and ev.actor_id == operator.user_id
    # and the order cannot be refunded a second time
    with pytest.raises(cases.DomainError):
        cases.apply_for_refund(
            case.order, cases.ApplyInput(cases.Kind.REFUND_ONLY, cases.Reason.UNUSABLE, 1, "again")
        )


def test_a_waiting_bank_payout_is_on_the_timeline_once(app, browser, clock, operator):
    """The settlement job asks the bank channel every few minutes; the buyer's timeline says
    "waiting for the statement" once, in the buyer's language, however often it asks."""
    from jobs.runtime import set_app
    from jobs.settlement import settle_payout

    order = f.order(clock(), channel="bank", extra=CARD)
    case = approved_case(clock, operator, order=order)
    work(app)
    payout = db.session.scalar(select(Payout))
    set_app(app)
    for _ in range(6):  # the job, run again and again (its reschedules included)
        clock.advance(minutes=5)
        assert settle_payout(payout.id) == "rescheduled"
    work(app)
    db.session.expire_all()
    assert db.session.get(Payout, payout.id).state == "pending"
    events = db.session.scalars(select(Event).where(Event.payout_id == payout.id)).all()
    assert [e.kind for e in events] == ["payout_created", "payout_pending"]
    assert events[1].reason == "" and events[1].data["note"] == {
        "code": "awaiting_batch",
        "params": {},
    }
    browser.submit(
        "/", "/lookup", {"order_no": order.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    zh = browser.get(f"/cases/{case.case_no}", headers={"Accept-Language": "zh-CN"})
    page = zh.get_data(as_text=True)
    assert page.count("等待下一批银行付款和银行对账单") == 1
    assert "statement" not in page
