"""The reviewer's path: queue by deadline, case view, decisions as form posts and htmx."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from portal.domain.policy import Kind, Reason
from portal.extensions import db
from portal.models import Event, Payout, RefundCase
from portal.services.refunds import cases
from tests import factories as f


def file_case(clock, reason=Reason.UNUSABLE, kind=Kind.REFUND_ONLY, amount=None, **order_kw):
    order = f.order(clock(), **order_kw)
    return cases.apply_for_refund(
        order,
        cases.ApplyInput(
            kind=kind,
            reason=reason,
            amount_fen=amount or order.amount_fen,
            explanation="broken code",
        ),
    )


@pytest.fixture
def reviewer(browser):
    user = f.staff("rev1")
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": "rev1", "password": "password-123"}
    )
    assert r.status_code == 303
    return user


def test_login_required_and_wrong_password(app, browser, clock):
    f.staff("rev1")
    assert browser.get("/review/").status_code == 302
    r = browser.submit(
        "/staff/login", "/staff/login", {"username": "rev1", "password": "nope-nope"}
    )
    assert r.status_code == 422 and "Wrong username or password" in r.get_data(as_text=True)


def test_merchant_staff_cannot_review(app, browser, clock):
    f.merchant("shop")
    db.session.commit()
    f.staff("shop1", "merchant", "shop")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "shop1", "password": "password-123"}
    )
    assert browser.get("/review/").status_code == 403


def test_queue_is_ordered_by_deadline(app, browser, clock, reviewer):
    late = file_case(clock)
    clock.advance(days=1)
    early = file_case(clock)
    clock.advance(days=1)
    html = browser.get("/review/").get_data(as_text=True)
    assert html.index(late.case_no) < html.index(early.case_no)
    clock.advance(days=10)
    html = browser.get("/review/").get_data(as_text=True)
    assert 'class="deadline late"' in html


@pytest.mark.parametrize("htmx", [False, True])
def test_approve_full_creates_payout_and_events(app, browser, clock, reviewer, htmx):
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    r = browser.submit(
        url, url + "/approve", {"approve-amount": "", "approve-note": "ok"}, htmx=htmx
    )
    if htmx:
        assert r.status_code == 200
        html = r.get_data(as_text=True)
        assert html.lstrip().startswith('<div id="panel">') and "<html" not in html
    else:
        assert r.status_code == 303
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.state == "refunding" and case.amount_approved_fen == 10000
    assert case.decided_by_id == reviewer.id
    payout = db.session.scalar(select(Payout))
    assert (
        payout.amount_fen == 10000
        and payout.channel == "fakepay"
        and len(payout.idempotency_key) <= 64
    )
    kinds = [
        e.kind
        for e in db.session.scalars(
            select(Event).where(Event.case_id == case.id).order_by(Event.id)
        )
    ]
    assert kinds == ["applied", "transition", "transition", "payout_created"]


def test_approve_smaller_amount_and_over_amount(app, browser, clock, reviewer):
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    r = browser.submit(url, url + "/approve", {"approve-amount": "100.01"})
    assert r.status_code == 422 and "at most the amount asked for" in r.get_data(as_text=True)
    r = browser.submit(url, url + "/approve", {"approve-amount": "abc"})
    assert r.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    r = browser.submit(url, url + "/approve", {"approve-amount": "40"})
    assert r.status_code == 303
    assert db.session.scalar(select(Payout)).amount_fen == 4000


def test_reject_needs_reason_then_buyer_sees_it(app, browser, clock, reviewer):
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    r = browser.submit(url, url + "/reject", {"reject-note": ""})
    assert r.status_code == 422
    assert db.session.get(RefundCase, case.id).state == "submitted"
    r = browser.submit(url, url + "/reject", {"reject-note": "The code was topped up at 10:02"})
    assert r.status_code == 303
    db.session.expire_all()
    c = db.session.get(RefundCase, case.id)
    assert c.state == "rejected" and c.rejected_by_id == reviewer.id and c.open_order_id is None


def test_request_info_and_negotiation(app, browser, clock, reviewer):
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    assert browser.submit(url, url + "/start", {}).status_code == 303
    assert (
        browser.submit(url, url + "/request-info", {"info-note": "Chat record please"}).status_code
        == 303
    )
    db.session.expire_all()
    c = db.session.get(RefundCase, case.id)
    assert c.state == "needs_info" and c.deadline_kind == "buyer_info"
    case2 = file_case(clock)
    url2 = f"/review/cases/{case2.case_no}"
    assert (
        browser.submit(
            url2, url2 + "/negotiate", {"negotiate-note": "merchant disagrees"}
        ).status_code
        == 303
    )
    assert db.session.get(RefundCase, case2.id).state == "negotiating"


def test_stale_decision_is_told_not_applied(app, browser, clock, reviewer):
    """A decision on a case another reviewer just decided: a clear message, nothing written."""
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    page = browser.get(url).get_data(as_text=True)  # reviewer A has the page open
    from tests.conftest import csrf_from

    token = csrf_from(page)
    other = f.staff("rev2")
    from portal.domain.states import Role
    from portal.services.actors import Actor

    cases.reject(case, Actor(Role.REVIEWER, other.id, "B"), "no")  # reviewer B decides first
    events_before = db.session.scalar(select(func.count()).select_from(Event))
    r = browser.client.post(url + "/approve", data={"csrf_token": token, "approve-amount": ""})
    assert r.status_code == 409  # a conflict with the case's state, as when a race is lost
    assert "not possible while the case is rejected" in r.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert db.session.scalar(select(func.count()).select_from(Event)) == events_before


def test_return_and_refund_takes_back_unrevealed_codes_then_pays(app, browser, clock, reviewer):
    case = file_case(clock, kind=Kind.RETURN_AND_REFUND, codes=2)
    order = case.order
    order.codes[0].first_revealed_at = clock()
    db.session.commit()
    url = f"/review/cases/{case.case_no}"
    browser.submit(url, url + "/approve", {"approve-amount": ""})
    db.session.expire_all()
    c = db.session.get(RefundCase, case.id)
    assert c.state == "approved"
    assert [code.returned_at is not None for code in c.order.codes] == [False, True]
    assert db.session.scalar(select(func.count()).select_from(Payout)) == 0
    assert browser.submit(url, url + "/confirm-return", {}).status_code == 303
    assert db.session.get(RefundCase, case.id).state == "refunding"
    assert db.session.scalar(select(Payout)).amount_fen == 10000


def test_review_deadline_crosses_spring_festival_with_makeup_saturday(app, clock):
    # Thursday 2026-02-12 10:00 Beijing. Working days after it: Fri 13, Sat 14 (调休 make-up
    # working day), then the holiday Feb 15-23, then Tue 24 -> due Tue 24 10:00.
    clock.set(datetime(2026, 2, 12, 2, 0, tzinfo=UTC))
    case = file_case(clock)
    assert case.deadline_at == datetime(2026, 2, 24, 2, 0, tzinfo=UTC)
    # on plain weekends (no make-up day) the same 3 days run Mon..Thu
    clock.set(datetime(2026, 3, 6, 2, 0, tzinfo=UTC))  # Friday
    case = file_case(clock)
    assert case.deadline_at == datetime(2026, 3, 11, 2, 0, tzinfo=UTC)  # Wednesday


def test_events_are_append_only(app, clock):
    case = file_case(clock)
    from sqlalchemy.exc import DBAPIError

    with pytest.raises(DBAPIError):
        db.session.execute(
            db.text("UPDATE events SET reason = 'x' WHERE case_id = :c"), {"c": case.id}
        )
        db.session.flush()
    db.session.rollback()
    with pytest.raises(DBAPIError):
        db.session.execute(db.text("DELETE FROM events"))
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Event)) >= 1
