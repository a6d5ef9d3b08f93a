"""Rules the money path enforces whatever a form sends: 0 is an amount (refused), not "not
given"; a code cannot be revealed once its order is refunded in full; revealing asks first."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CardCode, Event, Freeze, Payout, RefundCase
from portal.services.errors import DomainError
from portal.services.refunds import cases, disputes
from tests import factories as f
from tests import test_disputes, test_review_flow
from tests.test_buyer_flow import login_order
from tests.test_disputes import new_case, paid_and_settled
from tests.test_review_flow import file_case

world = test_disputes.world  # fixtures shared with those tests
reviewer = test_review_flow.reviewer


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("htmx", [False, True])
def test_approving_zero_yuan_is_refused_not_taken_as_the_full_amount(
    app,
    browser,
    clock,
    reviewer,
    htmx,
):
    case = file_case(clock)
    url = f"/review/cases/{case.case_no}"
    r = browser.submit(
        url, url + "/approve", {"approve-amount": "0.00", "approve-note": ""}, htmx=htmx
    )
    assert r.status_code == 422
    assert "must be more than 0" in r.get_data(as_text=True)
    db.session.expire_all()
    case = db.session.get(RefundCase, case.id)
    assert case.state != "approved" and case.amount_approved_fen is None
    assert _count(Payout) == 0


def test_the_service_refuses_zero_and_takes_none_as_asked(app, clock, world):
    case = file_case(clock)
    with pytest.raises(DomainError, match="more than 0"):
        cases.approve(case, world["rev_a"], 0)
    assert _count(Payout) == 0
    cases.approve(db.session.get(RefundCase, case.id), world["rev_a"], None)
    assert db.session.get(RefundCase, case.id).amount_approved_fen == case.amount_requested_fen


def test_freezing_zero_is_refused_not_taken_as_the_whole_dispute(app, clock, world):
    order = paid_and_settled(clock, world["shop"])
    case = new_case(order)
    cases.reject(case, world["rev_a"], "Face value matches")
    disputes.appeal(db.session.get(RefundCase, case.id), "The listing said 50 yuan, not 5", [])
    with pytest.raises(DomainError):
        disputes.freeze_funds(db.session.get(RefundCase, case.id), world["rev_b"], 0)
    assert _count(Freeze) == 0


def _reveal(browser, order, code, confirm: bool, htmx: bool = False):
    data = {"confirm": "yes"} if confirm else {}
    return browser.submit(
        "/",  # a page with the session's CSRF token (a refunded order shows no reveal form)
        f"/orders/{order.order_no}/codes/{code.id}/reveal",
        data,
        htmx=htmx,
    )


def test_reveal_without_javascript_asks_on_a_page_first(app, browser, clock):
    order = f.order(clock())
    code = order.codes[0]
    login_order(browser, order)
    page = browser.get(f"/orders/{order.order_no}").get_data(as_text=True)
    assert "hx-confirm=" in page and '"confirm": "yes"' in page  # htmx asks in a dialog
    r = _reveal(browser, order, code, confirm=False)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Yes, reveal the code" in html and code.code not in html
    assert 'name="confirm" value="yes"' in html
    db.session.expire_all()
    assert db.session.get(CardCode, code.id).first_revealed_at is None
    assert _count(Event) == 0
    r = _reveal(browser, order, code, confirm=True)
    assert r.status_code == 303
    db.session.expire_all()
    assert db.session.get(CardCode, code.id).first_revealed_at is not None


def test_reveal_with_htmx_after_its_confirmation_swaps_the_code_in(app, browser, clock):
    order = f.order(clock())
    code = order.codes[0]
    login_order(browser, order)
    r = _reveal(browser, order, code, confirm=True, htmx=True)
    assert r.status_code == 200 and code.code in r.get_data(as_text=True)


@pytest.mark.parametrize("revealed_before", [False, True])
def test_no_code_is_shown_once_the_order_is_refunded_in_full(
    app,
    browser,
    clock,
    world,
    revealed_before,
):
    order = f.order(clock(), m=world["shop"])
    code = order.codes[0]
    login_order(browser, order)
    if revealed_before:
        assert _reveal(browser, order, code, confirm=True).status_code == 303
    case = new_case(order)
    cases.approve(case, world["rev_a"], None)  # in full: the payout starts
    page = browser.get(f"/orders/{order.order_no}").get_data(as_text=True)
    assert code.code not in page and "can no longer be shown" in page
    r = _reveal(browser, order, code, confirm=True)
    assert r.status_code == 422
    assert code.code not in r.get_data(as_text=True)
    assert "refunded in full" in r.get_data(as_text=True)


def test_a_partial_refund_leaves_the_code_revealable(app, browser, clock, world):
    order = f.order(clock(), m=world["shop"])
    code = order.codes[0]
    login_order(browser, order)
    case = new_case(order)
    cases.approve(case, world["rev_a"], 100)
    assert _reveal(browser, order, code, confirm=True).status_code == 303
