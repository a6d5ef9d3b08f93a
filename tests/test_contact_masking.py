"""Buyers' contacts by the minimum: staff and merchant pages show them masked (138****0000,
b***@example.com), every page a reviewer, a supervisor or a shop can reach by following links;
the whole contact only on an explicit request with a reason, recorded (who, why) in the case's
chained audit trail, and only in the answer to that request."""

from __future__ import annotations

import re
from collections import deque

import pytest
from sqlalchemy import select

from portal.domain import contacts
from portal.extensions import db
from portal.models import Event, Order
from portal.services.audit.verify import verify
from tests import factories as f
from tests.conftest import Browser
from tests.test_buyer_flow import login_order
from tests.test_statement_counts import _apply_with_a_file, _staff

PHONE = "13812345678"
EMAIL = "zhang.wei@example.com"
FULL = (PHONE, EMAIL, "zhang.wei")
LINK = re.compile(r'href="(/[^"#]*)"')


@pytest.mark.parametrize(
    ("contact", "shown"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("021 6123 4567", "021****4567"),
        ("zhang.wei@example.com", "z***@example.com"),
        ("@example.com", "***@example.com"),
        ("wx_zhangwei", "w****i"),
        ("ab", "**"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_contact_is_masked(contact, shown):
    assert contacts.mask(contact) == shown
    if contact and len(contact) > 2:
        assert contacts.mask(contact) != contact


@pytest.fixture
def shop(app):
    m = f.merchant("shop")
    db.session.commit()
    f.staff("shop-staff", "merchant", "shop")
    f.staff("rev1", "reviewer")
    f.staff("boss", "supervisor")
    f.merchant("other")
    db.session.commit()
    f.staff("other-staff", "merchant", "other")
    return m


def _cases(app, client, clock, shop) -> list[str]:
    made = []
    for contact in (PHONE, EMAIL):
        order = f.order(clock(), m=shop)
        buyer = Browser(app.test_client())
        login_order(buyer, order)  # with the factories' contact, then the buyer's own
        made.append(_apply_with_a_file(buyer, order.order_no))
        db.session.get(Order, order.id).buyer_contact = contact
        db.session.commit()
    return made


def _crawl(who: Browser, start: list[str], limit: int = 60) -> dict[str, str]:
    """Every page reachable from ``start`` by links (GET only), up to ``limit``."""
    seen: dict[str, str] = {}
    todo = deque(start)
    while todo and len(seen) < limit:
        url = todo.popleft()
        if url in seen or url.startswith(("/static", "/staff/logout")):
            continue
        r = who.get(url)
        if r.status_code != 200 or not r.mimetype.startswith("text/html"):
            seen[url] = ""
            continue
        html = r.get_data(as_text=True)
        seen[url] = html
        todo.extend(u.replace("&amp;", "&") for u in LINK.findall(html))
    return seen


def test_no_staff_or_merchant_page_shows_a_whole_contact(app, client, clock, shop):
    case_nos = _cases(app, client, clock, shop)
    for username, start in (
        ("rev1", ["/review/"]),
        ("boss", ["/review/"]),
        ("shop-staff", ["/merchant/"]),
    ):
        pages = _crawl(_staff(app, username), start)
        case_pages = [u for u in pages if any(no in u for no in case_nos)]
        assert len(case_pages) >= 2, (username, sorted(pages))
        for url, html in pages.items():
            for full in FULL:
                assert full not in html, (username, url, full)
        shown = "".join(pages[u] for u in case_pages)
        assert "138****5678" in shown and "z***@example.com" in shown, username


def _reveal_url(case_no: str, merchant: bool = False) -> tuple[str, str]:
    page = f"/merchant/cases/{case_no}" if merchant else f"/review/cases/{case_no}"
    return page, page + "/contact"


def _revealed(case_no: str) -> list[Event]:
    return list(
        db.session.scalars(select(Event).where(Event.kind == contacts.REVEALED).order_by(Event.id))
    )


def test_the_whole_contact_is_shown_on_request_and_the_request_recorded(app, client, clock, shop):
    phone_case, _ = _cases(app, client, clock, shop)
    reviewer = _staff(app, "rev1")
    page, action = _reveal_url(phone_case)
    assert PHONE not in reviewer.get(page).get_data(as_text=True)
    r = reviewer.submit(page, action, {"reveal-why": "buyer asked for a call back"})
    assert r.status_code == 200
    assert PHONE in r.get_data(as_text=True)
    [event] = _revealed(phone_case)
    assert event.reason == "buyer asked for a call back"
    assert event.actor_role == "reviewer" and event.actor_id is not None
    assert event.actor_label
    assert event.hash and verify().ok
    # the next visit shows it masked again; the staff timeline shows the request
    html = reviewer.get(page).get_data(as_text=True)
    assert PHONE not in html and "138****5678" in html
    assert "buyer asked for a call back" in html
    # the shop of the case: the same, recorded as the shop's
    merchant = _staff(app, "shop-staff")
    mpage, maction = _reveal_url(phone_case, merchant=True)
    r = merchant.submit(mpage, maction, {"reveal-why": "sending the replacement code by SMS"})
    assert r.status_code == 200 and PHONE in r.get_data(as_text=True)
    assert [e.actor_role for e in _revealed(phone_case)] == ["reviewer", "merchant"]
    # neither the shop's timeline nor the buyer's shows who looked
    assert "call back" not in merchant.get(mpage).get_data(as_text=True)


def test_no_reason_no_contact_and_nothing_recorded(app, client, clock, shop):
    phone_case, _ = _cases(app, client, clock, shop)
    reviewer = _staff(app, "rev1")
    page, action = _reveal_url(phone_case)
    for why in ("", "   ", "x" * 201, "bad\x00byte"):
        r = reviewer.submit(page, action, {"reveal-why": why})
        assert r.status_code == 422, (why, r.status_code)
        assert PHONE not in r.get_data(as_text=True)
    # without the page's token: refused
    r = reviewer.client.post(action, data={"reveal-why": "no token"})
    assert r.status_code in (400, 422) and PHONE not in r.get_data(as_text=True)
    assert _revealed(phone_case) == []


def test_another_shop_cannot_ask_for_the_contact(app, client, clock, shop):
    phone_case, _ = _cases(app, client, clock, shop)
    other = _staff(app, "other-staff")
    _page, action = _reveal_url(phone_case, merchant=True)
    r = other.submit("/merchant/", action, {"reveal-why": "curious"})
    assert r.status_code == 404 and PHONE not in r.get_data(as_text=True)
    assert _revealed(phone_case) == []
    buyer_side = Browser(app.test_client())
    r = buyer_side.client.post(_reveal_url(phone_case)[1], data={"reveal-why": "x"})
    assert r.status_code in (302, 303, 400, 401, 403) and PHONE not in r.get_data(as_text=True)
    assert db.session.scalar(select(Order.buyer_contact).where(Order.buyer_contact == PHONE))
