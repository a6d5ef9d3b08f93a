"""Order numbers belong to a shop: another shop's number is neither refused nor revealed, and
a buyer's lookup (number + contact + query password) finds the right shop's order."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.models import Order
from portal.services.errors import NotFound
from portal.services.integration import csv_import, orders
from tests import factories as f
from tests.api_helpers import order_body, shop


def test_another_shops_order_number_is_not_refused_nor_revealed(app, client):
    a, _ = shop(client)
    b, _ = shop(client)
    assert a.post("/orders", order_body("SAME1")).status_code == 201
    r = b.post("/orders", order_body("SAME1", amount_fen=5000))
    assert r.status_code == 201, r.get_json()  # not "already taken"
    assert a.get("/orders/SAME1").get_json()["amount_fen"] == 9500
    assert b.get("/orders/SAME1").get_json()["amount_fen"] == 5000
    # a write through one shop's key touches only that shop's order
    assert b.post("/orders/SAME1/usage", {}).status_code == 200
    assert a.get("/orders/SAME1").get_json()["goods_used"] is False
    # the same shop sending its own number again with other contents still conflicts
    assert b.post("/orders", order_body("SAME1", amount_fen=1)).status_code == 409


def test_csv_import_checks_numbers_within_the_shop_only(app, client):
    a, _ = shop(client)
    a.post("/orders", order_body("CSV1"))
    other = f.merchant()
    db.session.commit()
    text = (
        "order_no,buyer_contact,query_password,sku,title,price,amount,channel,"
        "gateway_trade_id,merchant_trade_no,paid_at\n"
        "CSV1,13800000000,pass1234,S1,Card,95.00,95.00,fakepay,G1,M1,2026-03-09T10:00:00+08:00\n"
    )
    assert csv_import.parse(other.id, text).clean


def test_the_database_holds_one_number_once_per_shop(app, clock):
    first = f.order(clock())
    db.session.commit()
    twin = f.order(clock(), m=first.merchant)
    twin.order_no = first.order_no
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    elsewhere = f.order(clock())
    elsewhere.order_no = first.order_no
    db.session.commit()  # another shop: allowed


def test_a_lookup_finds_the_order_whose_contact_and_password_match(app, clock):
    mine = f.order(clock())
    theirs = f.order(clock())
    theirs.order_no, theirs.buyer_contact = mine.order_no, "someone-else@example.com"
    db.session.commit()
    assert orders.lookup(mine.order_no, f.CONTACT, f.PASSWORD).id == mine.id
    assert orders.lookup(mine.order_no, "someone-else@example.com", f.PASSWORD).id == theirs.id
    with pytest.raises(NotFound):
        orders.lookup(mine.order_no, f.CONTACT, "wrong")
    with pytest.raises(NotFound):
        orders.lookup(mine.order_no, "nobody@example.com", f.PASSWORD)


def test_the_buyer_page_shows_the_order_the_buyer_opened(app, clock, browser):
    mine = f.order(clock(), amount_fen=12300)
    theirs = f.order(clock(), amount_fen=45600)
    theirs.order_no, theirs.buyer_contact = mine.order_no, "someone-else@example.com"
    db.session.commit()
    r = browser.submit(
        "/", "/lookup", {"order_no": mine.order_no, "contact": f.CONTACT, "password": f.PASSWORD}
    )
    assert r.status_code == 303
    page = browser.get(f"/orders/{mine.order_no}").get_data(as_text=True)
    assert "123.00" in page and "456.00" not in page
    assert db.session.get(Order, theirs.id).order_no == mine.order_no
