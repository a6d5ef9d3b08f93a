"""Contacting the shop and the platform's support from a case, from the moment it is filed.

Both are plain forms on the buyer's case page before any decision: a message to the shop
joins the case's thread addressed to the shop (the shop sees it and gets an inbox notice),
a question to support opens a ticket (reason ``question``) with the order and case attached.
Hostile input first: empty and over-long messages, another buyer's case, a decided case,
each answered with a clear message and nothing written.
"""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, Notice, Ticket, TicketMessage
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser, csrf_from
from tests.test_buyer_flow import count, login_order
from tests.test_dispute_pages import a_case, shop, staff_login  # noqa: F401 - fixture


def shop_notices() -> int:
    return db.session.scalar(
        select(db.func.count()).select_from(Notice).where(Notice.kind == "buyer_message")
    )


def messages() -> int:
    return db.session.scalar(
        select(db.func.count()).select_from(Event).where(Event.kind == "message")
    )


def test_both_forms_are_on_the_case_page_from_the_start_in_both_languages(
    app,
    client,
    clock,
    shop,  # noqa: F811
):
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    page = buyer.get(f"/cases/{case.case_no}").get_data(as_text=True)
    assert f'action="/cases/{case.case_no}/contact-shop"' in page
    assert f'action="/cases/{case.case_no}/ticket"' in page
    assert "Write to the shop" in page and "Ask the platform's support" in page
    zh = client.get(f"/cases/{case.case_no}", headers={"Accept-Language": "zh-CN"})
    html = zh.get_data(as_text=True)
    assert "给店铺留言" in html and "提交工单联系客服" in html


def test_writing_to_the_shop_reaches_the_shop(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    curl = f"/cases/{case.case_no}"
    r = buyer.submit(curl, curl + "/contact-shop", {"shop-text": "  Is the code really used?  "})
    assert r.status_code == 303
    event = db.session.scalar(select(Event).where(Event.kind == "message"))
    assert event.reason == "Is the code really used?" and event.data == {"to": "merchant"}
    assert event.actor_role == "buyer"
    notice = db.session.scalar(select(Notice).where(Notice.kind == "buyer_message"))
    assert notice.audience == "merchant" and notice.merchant_id == shop.id
    assert notice.params["case_no"] == case.case_no  # a code with parameters, not a sentence
    shown = buyer.get(curl).get_data(as_text=True)
    assert "Is the code really used?" in shown and "to the shop" in shown
    merchant = Browser(app.test_client())
    staff_login(merchant, "shop-staff")
    mpage = merchant.get(f"/merchant/cases/{case.case_no}").get_data(as_text=True)
    assert "Is the code really used?" in mpage
    zh = merchant.client.get(
        f"/merchant/cases/{case.case_no}", headers={"Accept-Language": "zh-CN"}
    ).get_data(as_text=True)
    assert "给店铺" in zh


def test_asking_support_before_any_decision_opens_a_ticket(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    curl = f"/cases/{case.case_no}"
    r = buyer.submit(curl, curl + "/ticket", {"ticket-text": "Can I change the amount?"})
    assert r.status_code == 303
    ticket = db.session.scalar(select(Ticket))
    assert ticket.reason == "question" and ticket.case_id == case.id
    assert db.session.scalar(select(TicketMessage.text)) == "Can I change the amount?"
    f.staff("support")
    staff = Browser(app.test_client())
    staff_login(staff, "support")
    listing = staff.get("/review/tickets/").get_data(as_text=True)
    assert case.case_no in listing and "question before a decision" in listing
    zh = staff.client.get("/review/tickets/", headers={"Accept-Language": "zh-CN"})
    assert "处理结果出来前的咨询" in zh.get_data(as_text=True)
    # the case page now links the ticket instead of offering a second one
    page = buyer.get(curl).get_data(as_text=True)
    assert "Your support ticket" in page and "Ask the platform's support" not in page


def test_empty_and_over_long_messages_are_refused_with_a_reason(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    curl = f"/cases/{case.case_no}"
    for field, action in (("shop-text", "/contact-shop"), ("ticket-text", "/ticket")):
        empty = buyer.submit(curl, curl + action, {field: "   "})
        assert empty.status_code == 422, action
        assert "This field is required." in empty.get_data(as_text=True)
        long = buyer.submit(curl, curl + action, {field: "x" * 2001})
        assert long.status_code == 422, action
        assert "2000" in long.get_data(as_text=True)
    assert messages() == 0 and count(Ticket) == 0 and shop_notices() == 0
    # the services refuse the same, whatever the form lets through
    import pytest

    from portal.services.actors import BUYER
    from portal.services.errors import DomainError
    from portal.services.refunds import disputes, tickets

    with pytest.raises(DomainError, match="at most"):
        disputes.contact_merchant(case, "y" * 2001)
    with pytest.raises(DomainError, match="at most"):
        tickets.open_ticket(case, BUYER, "y" * 2001)
    with pytest.raises(DomainError):
        disputes.contact_merchant(case, "\n \t")
    assert messages() == 0 and count(Ticket) == 0


def test_another_buyers_case_is_out_of_reach(app, client, clock, shop):  # noqa: F811
    mine = a_case(clock, shop)
    theirs = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, mine.order)
    token = csrf_from(buyer.get(f"/cases/{mine.case_no}").get_data(as_text=True))
    for action, field in (("/contact-shop", "shop-text"), ("/ticket", "ticket-text")):
        r = client.post(
            f"/cases/{theirs.case_no}{action}",
            data={
                "csrf_token": token,
                "shop-csrf_token": token,
                "ticket-csrf_token": token,
                field: "let me in",
            },
        )
        assert r.status_code == 303 and r.headers["Location"].endswith("/")  # to the lookup
    assert messages() == 0 and count(Ticket) == 0 and shop_notices() == 0


def test_a_decided_case_takes_neither(app, client, clock, shop):  # noqa: F811
    case = a_case(clock, shop)
    buyer = Browser(client)
    login_order(buyer, case.order)
    curl = f"/cases/{case.case_no}"
    token = csrf_from(buyer.get(curl).get_data(as_text=True))
    cases.withdraw(case)
    page = buyer.get(curl).get_data(as_text=True)
    assert "/contact-shop" not in page and 'action="/cases/' + case.case_no + '/ticket"' not in page
    r = client.post(curl + "/contact-shop", data={"shop-csrf_token": token, "shop-text": "hi"})
    assert r.status_code == 422
    assert "until it is decided" in r.get_data(as_text=True)
    r = client.post(curl + "/ticket", data={"ticket-csrf_token": token, "ticket-text": "hi"})
    assert r.status_code == 422
    assert "until it is decided" in r.get_data(as_text=True)
    assert messages() == 0 and count(Ticket) == 0
