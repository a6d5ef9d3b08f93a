"""Who may write, and how often: API keys, signatures, freshness, replay, idempotency,
and problem details naming each bad field. Refused requests write nothing."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.models import ApiKey, Event, IdempotencyRecord, Order
from portal.services import context
from portal.services.integration import api_keys, signing
from tests.api_helpers import order_body, shop


def written() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(m))
        for m in (Order, Event, IdempotencyRecord)
    )


P = "/api/v1/orders"


def _post_raw(client, key, raw: bytes, headers: dict):
    return client.post(
        "/api/v1/orders",
        data=raw,
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "k1", **headers},
    )


def assert_401(r, words: str) -> None:
    assert r.status_code == 401
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["status"] == 401 and words in body["detail"], body


def test_keys_are_stored_hashed_and_shown_once(app, client):
    s, mid = shop(client)
    row = db.session.scalar(select(ApiKey))
    assert s.key.startswith("rpk_" + row.prefix + "_")
    assert row.key_hash == api_keys.hash_key(s.key) and s.key not in row.key_hash
    _, second = api_keys.create(mid, "backup")  # several keys per merchant
    assert api_keys.authenticate(second).merchant_id == mid


def test_reads_need_a_live_key(app, client):
    s, mid = shop(client)
    from portal.models import Merchant

    slug = db.session.get(Merchant, mid).slug
    assert s.get("/me").get_json() == {"merchant": slug, "key_prefix": s.key[4:12]}
    assert_401(client.get("/api/v1/me"), "Bearer")
    assert_401(client.get("/api/v1/me", headers={"Authorization": "Bearer rpk_nope"}), "Unknown")
    forged = s.key[:-4] + ("0000" if not s.key.endswith("0000") else "1111")
    assert_401(client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), "Unknown")
    api_keys.revoke(mid, db.session.scalar(select(ApiKey.id)))
    assert_401(s.get("/me"), "revoked")


def test_last_used_is_recorded(app, client, clock):
    s, _ = shop(client)
    s.get("/me")
    assert db.session.scalar(select(ApiKey.last_used_at)) == clock()


def test_unsigned_bad_stale_and_replayed_writes_are_refused_with_nothing_written(
    app, client, clock
):
    s, _ = shop(client)
    raw = json.dumps(order_body("SIG1")).encode()
    before = written()
    assert_401(_post_raw(client, s.key, raw, {}), "Sign writes")
    bad = s.signed(raw, path=P, idem="k1")
    bad["X-Portal-Signature"] = "v1=" + "0" * 64
    assert_401(_post_raw(client, s.key, raw, bad), "does not match")
    other_body = s.signed(raw + b" ", path=P, idem="k1")
    assert_401(_post_raw(client, s.key, raw, other_body), "does not match")
    stale = s.signed(raw, path=P, idem="k1", ts=int(context.now().timestamp()) - 301)
    assert_401(_post_raw(client, s.key, raw, stale), "5 minutes")
    future = s.signed(raw, path=P, idem="k1", ts=int(context.now().timestamp()) + 301)
    assert_401(_post_raw(client, s.key, raw, future), "5 minutes")
    wrong_key = shop(client)[0]
    assert_401(
        _post_raw(client, s.key, raw, wrong_key.signed(raw, path=P, idem="k1")), "does not match"
    )
    assert written() == before

    good = s.signed(raw, path=P, idem="k1")
    assert _post_raw(client, s.key, raw, good).status_code == 201
    after = written()
    # the very same signed request again is a replay
    assert_401(_post_raw(client, s.key, raw, good), "replay")
    assert written() == after


def test_signature_within_the_window_is_accepted(app, client):
    s, _ = shop(client)
    raw = json.dumps(order_body("SIG2")).encode()
    h = s.signed(raw, path=P, idem="k1", ts=int(context.now().timestamp()) - 299)
    assert _post_raw(client, s.key, raw, h).status_code == 201


def test_a_retry_gets_the_first_answer_and_another_body_gets_409(app, client):
    s, _ = shop(client)
    body = order_body("IDEM1")
    first = s.post("/orders", body, idem="order-IDEM1")
    assert first.status_code == 201
    retry = s.post("/orders", body, idem="order-IDEM1")  # re-signed, same key and body
    assert retry.status_code == 201 and retry.get_json() == first.get_json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    before = written()
    other = s.post("/orders", {**body, "order_no": "IDEM2"}, idem="order-IDEM1")
    assert other.status_code == 409
    assert other.get_json()["type"].endswith("idempotency-conflict")
    assert written() == before
    # keys belong to one merchant: another shop may use the same key freely
    t, _ = shop(client)
    assert t.post("/orders", order_body("IDEM3"), idem="order-IDEM1").status_code == 201


def test_refusals_are_remembered_too(app, client):
    s, _ = shop(client)
    body = order_body("IDEM4", amount_fen=-1)
    assert s.post("/orders", body, idem="same").status_code == 422
    assert s.post("/orders", body, idem="same").status_code == 422


def test_writes_need_an_idempotency_key(app, client):
    s, _ = shop(client)
    r = s.post("/orders", order_body(), headers={"Idempotency-Key": ""})
    assert r.status_code == 400 and "Idempotency-Key" in r.get_json()["detail"]
    assert written()[0] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount_fen": "95.00"}, "amount_fen"),
        ({"amount_fen": -1}, "amount_fen"),
        ({"order_no": "has space"}, "order_no"),
        ({"paid_at": "2026-03-09 10:00"}, "paid_at"),
        ({"paid_at": "2026-03-09T10:00:00"}, "paid_at"),  # no offset
        ({"buyer_contact": ""}, "buyer_contact"),
        ({"surprise": 1}, "surprise"),
        (
            {"product": {"sku": "S", "title": "T", "price_fen": 1, "delivery_type": "slow"}},
            "product.delivery_type",
        ),
        (
            {"payment": {"channel": "fakepay", "gateway_trade_id": "g", "merchant_trade_no": "m"}},
            "payment.captured_fen",
        ),
    ],
)
def test_a_malformed_field_is_422_naming_it(app, client, change, field):
    s, _ = shop(client)
    r = s.post("/orders", order_body(**change))
    assert r.status_code == 422
    assert r.headers["Content-Type"] == "application/problem+json"
    problem = r.get_json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert all(e["pointer"].startswith("#/") for e in problem["errors"])
    assert written()[0] == 0


def test_both_or_neither_password_is_422(app, client):
    s, _ = shop(client)
    body = order_body()
    del body["query_password"]
    r = s.post("/orders", body)
    assert r.status_code == 422
    assert "query_password" in r.get_json()["errors"][0]["message"]


def test_not_json_is_422(app, client):
    s, _ = shop(client)
    r = s.post("/orders", None, raw=b"{not json")
    assert r.status_code == 422 and r.get_json()["errors"][0]["field"] == "body"


# --- the signature is bound to the request it signs (issue 18, class 7) ---------------------


def test_two_writes_with_the_same_body_in_the_same_second_both_succeed(app, client, clock):
    s, _ = shop(client)
    for no in ("A", "B"):
        s.post("/orders", order_body(no))
    ts = int(context.now().timestamp())
    for no in ("A", "B"):
        path = f"/api/v1/orders/{no}/usage"
        h = s.signed(b"{}", ts=ts, path=path, idem=f"used-{no}")
        r = client.post(
            path,
            data=b"{}",
            headers={**s.auth(), **h, "Idempotency-Key": f"used-{no}"},
            content_type="application/json",
        )
        assert r.status_code == 200, r.get_json()
    assert s.get("/orders/A").get_json()["goods_used"] is True
    assert s.get("/orders/B").get_json()["goods_used"] is True


def test_a_signature_is_refused_on_another_path_method_query_or_idempotency_key(app, client):
    s, _ = shop(client)
    s.post("/orders", order_body("A"))
    s.post("/orders", order_body("B"))
    h = s.signed(b"{}", path="/api/v1/orders/A/usage", idem="used-A")

    def send(path: str, idem: str = "used-A"):
        return client.post(
            path,
            data=b"{}",
            headers={**s.auth(), **h, "Idempotency-Key": idem},
            content_type="application/json",
        )

    assert_401(send("/api/v1/orders/B/usage"), "does not match")
    assert_401(send("/api/v1/orders/A/usage?x=1"), "does not match")
    assert_401(send("/api/v1/orders/A/cancel"), "does not match")
    assert_401(send("/api/v1/orders/A/usage", idem="used-A2"), "does not match")
    put = client.put(
        "/api/v1/orders/A/usage", data=b"{}", headers={**s.auth(), **h, "Idempotency-Key": "x"}
    )
    assert put.status_code in (401, 405)
    assert s.get("/orders/A").get_json()["goods_used"] is False
    assert s.get("/orders/B").get_json()["goods_used"] is False
    assert send("/api/v1/orders/A/usage").status_code == 200


def test_the_old_timestamp_dot_body_form_is_refused_naming_the_new_one(app, client):
    s, _ = shop(client)
    raw = json.dumps(order_body("OLD1")).encode()
    ts = str(int(context.now().timestamp()))
    old = signing.sign(api_keys.hash_key(s.key), ts, raw)  # a correct old-form signature
    r = _post_raw(client, s.key, raw, {"X-Portal-Timestamp": ts, "X-Portal-Signature": old})
    assert_401(r, "v1=")
    assert "no longer accepted" in r.get_json()["detail"]
    assert s.get("/orders/OLD1").status_code == 404
