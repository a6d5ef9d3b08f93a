"""Pages do only the work they show: the SQL statements each page sends, counted on the real
app with SQLAlchemy's ``before_cursor_execute`` event, each under a fixed ceiling, so a page
that starts issuing more (a lazy load in a loop, a query run twice) fails here.

Every request starts with an empty session, as a request in a server does (the tests hold one
app context open, which would otherwise keep rows loaded by an earlier request)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event

from portal.extensions import db
from portal.models import Notice, RefundCase
from portal.services.messaging import notices
from portal.services.money import ledger
from tests import factories as f
from tests.conftest import Browser
from tests.images import PNG
from tests.test_buyer_flow import login_order
from tests.test_settlement import work

#: the buyer's case page, whatever the case holds (issue 21: at most 4): the case with its
#: timeline in one statement, then its evidence files and its order's payouts when it has some
BUYER_CASE = 3
#: the rest, as measured when the ceilings were set; lower one when a page does less
BUYER_LOOKUP_GET = 0
BUYER_LOOKUP_POST = 1
BUYER_ORDER = 15
# 19, plus the case's risk signals (issue 23): the rules, the history with the watch list, and
# the same evidence on other cases; plus the case's legal hold (issue 24); plus altered copies
# of its pictures on other cases (one statement on the hash bands for the signal, one for the
# flags on the evidence list)
REVIEW_CASE = 25
MERCHANT_CASE = 10
# the lists: the user, the page of rows and the look for a page before it, the capped counts
# (the queue's two, the shop's one), the shop's balances (one statement), the unread count
REVIEW_QUEUE = 6
MERCHANT_LIST = 6


@contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements sent to the database inside the block."""
    seen: list[str] = []

    def before(conn, cursor, statement, params, context, executemany) -> None:
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


def counted(client: FlaskClient | Browser, url: str) -> tuple[int, list[str]]:
    """GET ``url`` as a fresh request would: (statements sent, their text)."""
    db.session.remove()
    with statements() as seen:
        r = client.get(url)
    assert r.status_code == 200, (url, r.status_code)
    return len(seen), seen


def _within(url: str, ceiling: int, got: tuple[int, list[str]]) -> None:
    n, seen = got
    assert n <= ceiling, f"{url}: {n} statements (ceiling {ceiling}):\n" + "\n".join(seen)


@pytest.fixture
def shop(app):
    m = f.merchant("shop")
    db.session.commit()
    f.staff("shop-staff", "merchant", "shop")
    f.staff("rev1", "reviewer")
    return m


def _staff(app, username: str) -> Browser:
    staff = Browser(app.test_client())
    r = staff.submit(
        "/staff/login", "/staff/login", {"username": username, "password": "password-123"}
    )
    assert r.status_code == 303
    return staff


def _apply_with_a_file(buyer: Browser, order_no: str) -> str:
    """The new case's number."""
    url = f"/orders/{order_no}/apply"
    r = buyer.submit(
        url,
        url,
        {
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "100.00",
            "explanation": "the code is invalid",
            "files": [(io.BytesIO(PNG), "screen.png")],
        },
        content_type="multipart/form-data",
    )
    assert r.status_code == 303, r.get_data(as_text=True)
    case = db.session.scalars(db.select(RefundCase).order_by(RefundCase.id.desc())).first()
    assert case is not None and case.evidence
    return case.case_no


def _negotiated_and_paid(app, buyer: Browser, merchant: Browser, case_no: str) -> None:
    """Refused by the shop, offers both ways, a message, an accepted offer, paid out."""
    murl, curl = f"/merchant/cases/{case_no}", f"/cases/{case_no}"
    assert merchant.submit(murl, murl + "/refuse", {"refuse-note": "worked"}).status_code == 303
    r = merchant.submit(murl, murl + "/offer", {"offer-amount": "30", "offer-note": "goodwill"})
    assert r.status_code == 303
    assert buyer.submit(curl, curl + "/message", {"msg-text": "It never worked"}).status_code == 303
    r = buyer.submit(curl, curl + "/offer", {"offer-amount": "70", "offer-note": "70 please"})
    assert r.status_code == 303
    offer = db.session.scalars(db.select(db.text("id FROM offers ORDER BY id DESC"))).first()
    assert merchant.submit(murl, murl + "/accept", {"offer_id": str(offer)}).status_code == 303
    work(app)


def test_every_page_stays_under_its_ceiling(app, client, clock, shop):
    order = f.order(clock(), m=shop)
    ledger.record_payment(order)
    ledger.settle_to_merchant(order)
    db.session.commit()
    order_no = order.order_no
    fresh = Browser(app.test_client())
    _within("GET /", BUYER_LOOKUP_GET, counted(fresh, "/"))
    db.session.remove()
    with statements() as seen:
        r = login_order(Browser(app.test_client()), order)
    assert r.status_code == 303
    # the page that carries the form, then the lookup itself
    assert len(seen) <= BUYER_LOOKUP_POST, "\n".join(seen)

    buyer = Browser(client)
    login_order(buyer, order)
    case_no = _apply_with_a_file(buyer, order_no)
    reviewer, merchant = _staff(app, "rev1"), _staff(app, "shop-staff")
    pages = [
        (buyer, f"/orders/{order_no}", BUYER_ORDER),
        (buyer, f"/cases/{case_no}", BUYER_CASE),
        (reviewer, "/review/", REVIEW_QUEUE),
        (reviewer, f"/review/cases/{case_no}", REVIEW_CASE),
        (merchant, "/merchant/", MERCHANT_LIST),
        (merchant, f"/merchant/cases/{case_no}", MERCHANT_CASE),
    ]
    for who, url, ceiling in pages:
        _within(url, ceiling, counted(who, url))

    # the most a case page can show: thread, offers, evidence, payouts, a refund record
    _negotiated_and_paid(app, buyer, merchant, case_no)
    state = db.session.scalar(db.select(RefundCase.state).where(RefundCase.case_no == case_no))
    assert state == "refunded"
    _within(f"/cases/{case_no} (negotiated, paid)", BUYER_CASE, counted(buyer, f"/cases/{case_no}"))
    html = buyer.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "goodwill" in html and "70.00" in html and "screen.png" in html


def test_the_buyer_case_page_counts_what_it_shows(app, client, clock, shop):
    """Three statements is not bought by leaving things out: the ticket link, the late review and
    the unread count in the header still show."""
    order = f.order(clock(), m=shop)
    buyer = Browser(client)
    login_order(buyer, order)
    case_no = _apply_with_a_file(buyer, order.order_no)
    clock.advance(days=10)  # past the review target
    db.session.add(
        Notice(audience=notices.BUYER, order_id=order.id, kind="t", message="m", params={})
    )
    db.session.commit()
    n, _ = counted(buyer, f"/cases/{case_no}")
    assert n <= BUYER_CASE
    html = buyer.get(f"/cases/{case_no}").get_data(as_text=True)
    assert "The review is taking longer than 3 working days." in html
    assert "Ask the platform's support" in html  # the form that opens a ticket
    assert "Inbox (1)" in html  # the header's unread count


def test_the_counter_sees_every_statement(app, client):
    """The ceiling can fail: a page's statements are all seen, the header's count too."""
    with statements() as seen:
        db.session.execute(db.text("SELECT 1"))
        db.session.execute(db.text("SELECT 2"))
    assert len(seen) == 2
