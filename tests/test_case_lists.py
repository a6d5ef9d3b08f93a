"""The review queue and the shop's case list at any size: hostile query strings get a clear 400
(never a 500), pages follow each other by keyset with no case lost or repeated, filters and
search narrow the rows, counts stop at their cap, a shop never sees another shop's cases, and
htmx gets the rows alone."""

from __future__ import annotations

import gzip
import itertools
import re
from datetime import timedelta

import pytest
from sqlalchemy import insert, select

from portal.domain import case_lists
from portal.domain.case_lists import Position
from portal.domain.policy import Kind, Reason
from portal.domain.states import State
from portal.extensions import db
from portal.models import Order, Payment, RefundCase
from portal.services.refunds import cases
from tests import factories as f
from tests.conftest import Browser, FreshGClient
from tests.test_dispute_pages import staff_login

_seq = itertools.count(1)
ZH = {"Accept-Language": "zh-CN"}
CASE_LINK = re.compile(r'href="/(?:review|merchant)/cases/(RF\w+)"')


def bulk_cases(
    clock,
    shop,
    n: int,
    *,
    state: State = State.SUBMITTED,
    deadline_step: timedelta | None = timedelta(hours=1),
    first_deadline: timedelta = timedelta(hours=1),
    amount_fen: int = 1000,
    reason: Reason = Reason.UNUSABLE,
    channel: str = "otherpay",
    contact: str = "bulk@example.com",
    appeal_count: int = 0,
    closed: bool = False,
) -> list[str]:
    """``n`` open cases on ``shop``'s orders, written in a few statements (the lists only read
    them); their deadlines ``deadline_step`` apart (None: no deadline). Case numbers back."""
    product = f.product(shop)
    now = clock()
    batch = next(_seq)
    orders = [
        {
            "order_no": f"B{batch}-{i}",
            "merchant_id": shop.id,
            "product_id": product.id,
            "buyer_contact": contact,
            "query_password_hash": "x",
            "quantity": 1,
            "amount_fen": amount_fen,
            "currency": "CNY",
            "created_at": now,
            "paid_at": now,
            "cancel_reason": "",
            "goods_used": False,
            "source_print": "",
        }
        for i in range(n)
    ]
    ids = db.session.scalars(insert(Order).returning(Order.id), orders).all()
    db.session.execute(
        insert(Payment),
        [
            {
                "order_id": oid,
                "channel": channel,
                "gateway_trade_id": f"G{oid}",
                "merchant_trade_no": f"P{oid}",
                "captured_fen": amount_fen,
                "currency": "CNY",
                "paid_at": now,
                "extra": {},
            }
            for oid in ids
        ],
    )
    numbers = [f"RF{batch:04d}{i:06X}" for i in range(n)]
    db.session.execute(
        insert(RefundCase),
        [
            {
                "case_no": numbers[i],
                "order_id": oid,
                "merchant_id": shop.id,
                "open_order_id": None if closed else oid,
                "kind": str(Kind.REFUND_ONLY),
                "reason": str(reason),
                "explanation": "",
                "amount_requested_fen": amount_fen,
                "state": str(state),
                "version": 1,
                "deadline_at": (now + first_deadline + deadline_step * i)
                if deadline_step is not None
                else None,
                "deadline_kind": "review" if deadline_step is not None else "",
                "decision_note": "",
                "info_request": "",
                "appeal_count": appeal_count,
                "auto_rule": "",
                "created_at": now,
                "updated_at": now,
            }
            for i, oid in enumerate(ids)
        ],
    )
    db.session.commit()
    return numbers


def rows_of(html: str) -> list[str]:
    return CASE_LINK.findall(html)


def next_link(html: str, rel: str) -> str | None:
    m = re.search(rf'<a href="([^"]+)" hx-get="[^"]+" rel="{rel}"', html)
    return m.group(1).replace("&amp;", "&") if m else None


@pytest.fixture
def reviewer(client):
    f.staff("rev-a")
    staff_login(Browser(client), "rev-a")


def logged_in(app, username):
    """A new client (its own cookies) logged in as ``username``."""
    app.test_client_class = FreshGClient  # each request its own g, as in production
    other = app.test_client()
    staff_login(Browser(other), username)
    return other


# -- hostile input first ------------------------------------------------------------------

GARBLED_CURSORS = [
    "x",
    "d.1",
    "n.",
    "d1.1' OR 1=1--",
    "d999999999999999999.1",  # past year 9999
    "n.99999999999999999999",  # past a BIGINT
    "d-5.1",
    "n.1.2",
    "ｄ1.1",
]


@pytest.mark.parametrize("cursor", GARBLED_CURSORS)
@pytest.mark.parametrize("direction", ["after", "before"])
def test_a_garbled_cursor_is_a_clear_400(app, client, clock, reviewer, cursor, direction):
    bulk_cases(clock, f.merchant(), 3)
    r = client.get("/review/", query_string={direction: cursor}, headers=ZH)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "页面链接已损坏或已过期" in page and "Traceback" not in page


def test_both_directions_at_once_is_a_400(app, client, clock, reviewer):
    r = client.get("/review/?after=n.1&before=n.2")
    assert r.status_code == 400
    assert "damaged or out of date" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"min": "abc"}, "Enter amounts in yuan"),
        ({"min": "-1"}, "Enter amounts in yuan"),
        ({"max": "1e9"}, "Enter amounts in yuan"),
        ({"max": "999999999"}, "larger than any case"),
        ({"min": "99999999999999999999999"}, "Enter amounts in yuan"),
        ({"min": "20", "max": "10"}, "smallest amount is larger"),
        ({"state": "refunded'--"}, "value it cannot have"),
        ({"state": "REFUNDED"}, "value it cannot have"),
        ({"reason": "x"}, "value it cannot have"),
        ({"channel": "../etc"}, "value it cannot have"),
        ({"assigned": "everyone"}, "value it cannot have"),
        ({"overdue": "yes"}, "value it cannot have"),
        ({"shop": "no-such-shop"}, "No shop has that name"),
        ({"q": "x" * 121}, "Search for a case number"),
    ],
)
def test_hostile_filters_are_a_clear_400(app, client, clock, reviewer, params, says):
    bulk_cases(clock, f.merchant(), 2)
    r = client.get("/review/", query_string=params)
    assert r.status_code == 400, params
    assert says in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "search", ["' OR 1=1 --", "%", "_", "RF%", "\\", "*", "RF*", "'; DROP TABLE refund_cases; --"]
)
def test_sql_ish_searches_match_nothing(app, client, clock, reviewer, search):
    bulk_cases(clock, f.merchant(), 5)
    r = client.get("/review/", query_string={"q": search})
    assert r.status_code == 200
    assert rows_of(r.get_data(as_text=True)) == []
    assert db.session.scalar(select(db.func.count()).select_from(RefundCase)) == 5


def test_a_shop_sees_only_its_own_cases_whatever_it_asks(app, client, clock):
    mine, theirs = f.merchant("mine-shop"), f.merchant("their-shop")
    own = bulk_cases(clock, mine, 60)
    other = bulk_cases(clock, theirs, 60, first_deadline=timedelta(minutes=30))
    f.staff("mine-staff", role="merchant", merchant_slug="mine-shop")
    client = logged_in(app, "mine-staff")
    theirs_case = db.session.scalar(select(RefundCase).where(RefundCase.case_no == other[10]))
    seen: set[str] = set()
    for query in [
        {},
        {"shop": "their-shop"},  # a shop filter is not read from a shop's list
        {"q": other[3]},  # another shop's case number
        {"q": f"B{other[0][2:6].lstrip('0')}-3"},
        {"q": "bulk@example.com"},  # a contact both shops' buyers share
        {"after": case_lists.encode(Position(theirs_case.deadline_at, theirs_case.id))},
        {"before": case_lists.encode(Position(theirs_case.deadline_at, theirs_case.id))},
        {"after": "n.0"},
        {"before": "d99999999999999.999999"},
    ]:
        r = client.get("/merchant/", query_string=query)
        assert r.status_code == 200, query
        html = r.get_data(as_text=True)
        found = rows_of(html)
        assert set(found) <= set(own), query
        seen.update(found)
        # paging on from there stays in the shop too
        for rel in ("next", "prev"):
            link = next_link(html, rel)
            if link:
                assert set(rows_of(client.get(link).get_data(as_text=True))) <= set(own)
    assert seen
    # another shop's case page is not there for this shop
    assert client.get(f"/merchant/cases/{other[0]}").status_code == 404


# -- paging ----------------------------------------------------------------------------------


def walk(client, url: str, rel: str = "next") -> list[list[str]]:
    pages = []
    while url:
        r = client.get(url)
        assert r.status_code == 200, url
        html = r.get_data(as_text=True)
        pages.append(rows_of(html))
        url = next_link(html, rel)
    return pages


def test_pages_follow_each_other_without_loss_or_repeat(app, client, clock, reviewer):
    shop = f.merchant()
    # the same deadline for several cases (the id breaks the tie), then cases without one
    dated = bulk_cases(clock, shop, 70, deadline_step=timedelta(0))
    later = bulk_cases(clock, shop, 40, first_deadline=timedelta(days=2))
    undated = bulk_cases(clock, shop, 30, state=State.PAYOUT_FAILED, deadline_step=None)
    expected = dated + later + undated
    pages = walk(client, "/review/")
    assert [len(p) for p in pages] == [50, 50, 40]
    assert [n for p in pages for n in p] == expected
    # and back from the last page, by the "previous" links
    last = client.get("/review/", query_string={"after": case_lists.encode(position(expected[99]))})
    back = walk(client, next_link(last.get_data(as_text=True), "prev"), rel="prev")
    assert [n for p in reversed(back) for n in p] == expected[:100]
    assert back[-1] == expected[:50]


def position(case_no: str) -> Position:
    c = db.session.scalar(select(RefundCase).where(RefundCase.case_no == case_no))
    return Position(c.deadline_at, c.id)


def test_no_previous_link_on_the_first_page_and_no_next_on_the_last(app, client, clock, reviewer):
    bulk_cases(clock, f.merchant(), 10)
    html = client.get("/review/").get_data(as_text=True)
    assert next_link(html, "next") is None and next_link(html, "prev") is None
    assert len(rows_of(html)) == 10


# -- filters, search and counts ---------------------------------------------------------------


def queue(client, **params) -> list[str]:
    r = client.get("/review/", query_string=params)
    assert r.status_code == 200, (params, r.get_data(as_text=True)[:300])
    return rows_of(r.get_data(as_text=True))


def test_each_filter_narrows_the_queue(app, client, clock, reviewer):
    north, south = f.merchant("north"), f.merchant("south")
    plain = bulk_cases(clock, north, 3, amount_fen=500)
    dear = bulk_cases(clock, south, 2, amount_fen=50000, channel="fakepay")
    late = bulk_cases(clock, north, 2, first_deadline=-timedelta(hours=5))
    appealed = bulk_cases(clock, south, 1, state=State.APPEALED, appeal_count=1)
    wrong = bulk_cases(clock, north, 1, reason=Reason.NOT_DELIVERED, contact="13900000000")
    closed = bulk_cases(clock, north, 1, state=State.REFUNDING)  # open, not in the queue
    everything = plain + dear + late + appealed + wrong
    assert sorted(queue(client)) == sorted(everything) and closed[0] not in queue(client)
    assert sorted(queue(client, shop="south")) == sorted(dear + appealed)
    assert queue(client, state="appealed") == appealed
    assert queue(client, state="refunding") == []
    assert queue(client, reason="not_delivered") == wrong
    assert queue(client, channel="fakepay") == dear
    assert sorted(queue(client, min="100")) == sorted(dear)
    assert sorted(queue(client, max="5")) == sorted(plain)
    assert sorted(queue(client, min="5", max="5.00")) == sorted(plain)
    assert sorted(queue(client, overdue="1")) == sorted(late)
    assert queue(client, appeal="1") == appealed
    assert queue(client, q=wrong[0]) == wrong  # a case number
    assert queue(client, q=wrong[0].lower()) == wrong
    assert sorted(queue(client, q=plain[0][:8])) == sorted(plain)  # its beginning
    order_no = db.session.scalar(
        select(Order.order_no)
        .join(RefundCase, RefundCase.order_id == Order.id)
        .where(RefundCase.case_no == dear[1])
    )
    assert queue(client, q=order_no) == [dear[1]]  # an order number
    assert queue(client, q="13900000000") == wrong  # a contact
    assert queue(client, q="1390000") == []  # contacts match exactly
    assert sorted(queue(client, shop="north", max="5")) == sorted(plain)


def test_counts_stop_at_the_cap(app, client, clock, reviewer, monkeypatch):
    bulk_cases(clock, f.merchant(), 12)
    assert "Cases: 12" in client.get("/review/").get_data(as_text=True)
    monkeypatch.setattr(case_lists, "COUNT_CAP", 10)
    html = client.get("/review/").get_data(as_text=True)
    assert "Cases: more than 10" in html
    assert "超过 10" in client.get("/review/", headers=ZH).get_data(as_text=True)


# -- htmx and the page budget -----------------------------------------------------------------


def test_htmx_gets_only_the_rows_and_plain_get_the_page(app, client, clock, reviewer):
    bulk_cases(clock, f.merchant(), 60)
    full = client.get("/review/?state=submitted")
    assert "<html" in full.get_data(as_text=True) and 'hx-target="#rows"' in full.get_data(
        as_text=True
    )
    part = client.get("/review/?state=submitted", headers={"HX-Request": "true"})
    body = part.get_data(as_text=True).strip()
    assert body.startswith("<tr") and "<html" not in body and "<form" not in body
    assert len(rows_of(body)) == 50 and next_link(body, "next")
    assert "HX-Request" in part.headers.get("Vary", "")
    # a page reloaded from htmx's history wants the whole page
    restore = client.get(
        "/review/", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in restore.get_data(as_text=True)


def test_a_page_of_fifty_fits_the_budget(app, client, clock, reviewer):
    shop = f.merchant("a-rather-long-shop-name-for-the-budget")
    bulk_cases(clock, shop, 60, state=State.APPEALED, appeal_count=1)
    f.staff("budget-shop", role="merchant", merchant_slug=shop.slug)
    for url, login in [("/review/?appeal=1", None), ("/merchant/?state=appealed", "budget-shop")]:
        if login:
            client = logged_in(app, login)
        for lang in ("zh-CN", "en"):
            r = client.get(url, headers={"Accept-Language": lang, "Accept-Encoding": "identity"})
            assert len(rows_of(r.get_data(as_text=True))) == 50
            assert len(gzip.compress(r.data, compresslevel=6)) < 14 * 1024, (url, lang)


def test_a_case_keeps_its_orders_shop(app, clock):
    m = f.merchant()
    order = f.order(clock(), m=m)
    case = cases.apply_for_refund(
        order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, 100, "code rejected")
    )
    assert case.merchant_id == m.id == case.order.merchant_id
