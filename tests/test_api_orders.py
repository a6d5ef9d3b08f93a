"""The shop API's resources: orders in, delivery, use, cancellation (with its automatic refund),
reading orders, cases and payouts; another merchant's order is not there."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
from portal.models import CardCode, Event, ListingSnapshot, Order, Payment, Payout, Product
from portal.services.integration import orders
from tests.api_helpers import order_body, shop
from tests.test_settlement import work


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_create_order_saves_order_product_snapshot_payment_and_checks_the_password(app, client):
    s, mid = shop(client)
    body = order_body("DJK1001", listing={"title": "Steam 100 (promo)", "price_fen": 9500})
    r = s.post("/orders", body)
    assert r.status_code == 201, r.get_json()
    assert r.get_json()["order_no"] == "DJK1001" and r.get_json()["refundable_fen"] == 9500
    order = db.session.scalar(select(Order).where(Order.order_no == "DJK1001"))
    assert order.merchant_id == mid and order.amount_fen == 9500
    assert order.product.sku == "STEAM-100" and order.product.delivery_sla_minutes == 5
    assert order.snapshot.title == "Steam 100 (promo)"
    assert order.payment.channel == "fakepay" and order.payment.captured_fen == 9500
    assert order.paid_at.isoformat() == "2026-03-09T02:00:00+00:00"
    # the buyer can look it up with the query password the shop sent (stored as Argon2)
    assert order.query_password_hash.startswith("$argon2")
    assert orders.lookup("DJK1001", "13800000000", "pass1234").id == order.id


def test_a_password_hash_is_kept_as_is(app, client):
    from portal.services.accounts.passwords import hash_password

    s, _ = shop(client)
    h = hash_password("secret-99")
    body = order_body("DJK1002")
    del body["query_password"]
    body["query_password_hash"] = h
    assert s.post("/orders", body).status_code == 201
    assert orders.lookup("DJK1002", "13800000000", "secret-99").order_no == "DJK1002"


def test_same_order_again_is_the_same_order_other_contents_conflict(app, client):
    s, _ = shop(client)
    body = order_body("DJK2001")
    assert s.post("/orders", body).status_code == 201
    again = s.post("/orders", body)  # a new idempotency key, same order: no duplicate
    assert again.status_code == 200 and again.get_json()["order_no"] == "DJK2001"
    changed = s.post("/orders", {**body, "amount_fen": 1})
    assert changed.status_code == 409
    assert changed.headers["Content-Type"] == "application/problem+json"
    assert count(Order) == 1 and count(Payment) == 1 and count(ListingSnapshot) == 1


def test_products_are_updated_per_sku(app, client):
    s, mid = shop(client)
    s.post("/orders", order_body())
    body = order_body()
    body["product"] = {**body["product"], "title": "Steam wallet 100 (new)", "price_fen": 9000}
    s.post("/orders", body)
    products = db.session.scalars(select(Product).where(Product.merchant_id == mid)).all()
    assert [p.title for p in products] == ["Steam wallet 100 (new)"]


def test_delivery_adds_codes_once_and_sets_delivered_at(app, client, clock):
    s, _ = shop(client)
    s.post("/orders", order_body("DJK3001"))
    r = s.post("/orders/DJK3001/delivery", {"codes": ["AAAA-1", "AAAA-2", "AAAA-1"]})
    assert r.status_code == 200 and r.get_json()["codes_delivered"] == 2
    assert r.get_json()["delivered_at"] == "2026-03-10T02:00:00Z"
    r = s.post("/orders/DJK3001/delivery", {"codes": ["AAAA-2", "AAAA-3"]})
    assert r.get_json()["codes_delivered"] == 3
    assert sorted(db.session.scalars(select(CardCode.code))) == ["AAAA-1", "AAAA-2", "AAAA-3"]


def test_usage_marks_goods_used_and_a_refund_is_then_refused(app, client):
    from portal.domain.policy import Reason
    from portal.services.refunds import cases

    s, _ = shop(client)
    s.post("/orders", order_body("DJK4001"))
    s.post("/orders/DJK4001/delivery", {"codes": ["C1"]})
    r = s.post("/orders/DJK4001/usage", {"used_at": "2026-03-10T09:00:00+08:00"})
    assert r.status_code == 200 and r.get_json()["goods_used"] is True
    order = db.session.scalar(select(Order).where(Order.order_no == "DJK4001"))
    assert order.goods_used_at.isoformat() == "2026-03-10T01:00:00+00:00"
    assert cases.eligibility(order, Reason.UNUSABLE, 100).rule == "goods_used"
    # cancelling used goods conflicts with what the portal holds
    r = s.post("/orders/DJK4001/cancel", {"reason": "stock"})
    assert r.status_code == 409 and db.session.get(Order, order.id).cancelled_at is None


def test_cancel_starts_the_automatic_refund_along_the_original_route(app, client, gateway):
    s, _ = shop(client)
    s.post("/orders", order_body("DJK5001"))
    r = s.post("/orders/DJK5001/cancel", {"reason": "out of stock"})
    assert r.status_code == 200, r.get_json()
    case = r.get_json()["case"]
    assert case["reason"] == "cancelled" and case["state"] == "refunding"
    assert case["amount_approved_fen"] == 9500
    payouts = s.get("/payouts?order_no=DJK5001").get_json()["items"]
    assert [(p["channel"], p["amount_fen"], p["state"]) for p in payouts] == [
        ("fakepay", 9500, "created")
    ]
    work(app)  # the settlement job pays it back through the channel
    payouts = s.get("/payouts?order_no=DJK5001").get_json()["items"]
    assert payouts[0]["state"] == "succeeded"
    assert gateway.movements == [(db.session.scalar(select(Payout.idempotency_key)), 9500)]
    cases_ = s.get("/cases?order_no=DJK5001").get_json()["items"]
    assert [c["state"] for c in cases_] == ["refunded"]
    # cancelling again changes nothing
    again = s.post("/orders/DJK5001/cancel", {"reason": "out of stock"})
    assert again.status_code == 200 and count(Payout) == 1


def test_get_order_and_lists(app, client):
    s, _ = shop(client)
    s.post("/orders", order_body("DJK6001"))
    r = s.get("/orders/DJK6001")
    assert r.status_code == 200 and r.get_json()["sku"] == "STEAM-100"
    assert s.get("/cases?order_no=DJK6001").get_json() == {"items": []}
    r = s.get("/cases")
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "order_no"


def test_another_merchants_order_is_not_found(app, client):
    a, _ = shop(client)
    b, _ = shop(client)
    a.post("/orders", order_body("DJK7001"))
    events_before = count(Event)
    for r in (
        b.get("/orders/DJK7001"),
        b.get("/cases?order_no=DJK7001"),
        b.get("/payouts?order_no=DJK7001"),
        b.post("/orders/DJK7001/delivery", {"codes": ["X"]}),
        b.post("/orders/DJK7001/usage", {}),
        b.post("/orders/DJK7001/cancel", {"reason": "mine now"}),
    ):
        assert r.status_code == 404, r.get_json()
        assert r.headers["Content-Type"] == "application/problem+json"
    assert count(CardCode) == 0 and count(Event) == events_before
    # numbers are per shop: another shop's own order may carry it, and nothing leaks either way
    assert b.post("/orders", order_body("DJK7001", amount_fen=100)).status_code == 201
    assert a.get("/orders/DJK7001").get_json()["amount_fen"] == 9500


def test_openapi_document_is_served_and_names_every_resource(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/me",
        "/orders",
        "/orders/{order_no}",
        "/orders/{order_no}/delivery",
        "/orders/{order_no}/usage",
        "/orders/{order_no}/cancel",
        "/cases",
        "/payouts",
    }
    order_in = doc["components"]["schemas"]["OrderIn"]
    assert {"order_no", "product", "payment", "amount_fen", "paid_at"} <= set(order_in["required"])


def test_a_listing_refuses_query_parameters_its_document_does_not_name(app, client):
    """An unknown query parameter (even an empty name) is an error, not silently ignored."""
    s, _ = shop(client)
    s.post("/orders", order_body("DJK6002"))
    assert s.get("/payouts?order_no=DJK6002").status_code == 200
    assert s.get("/cases?order_no=DJK6002&=null").status_code == 422
    r = s.get("/payouts?order_no=DJK6002&page=2")
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "page"
