"""The query password of an order an order source brings in stays in the shop: the order
comes in with no password of ours, and the buyer's first lookup is checked against the
shop's own (through the connector's read-only account), after which our Argon2 hash is
kept. Wrong answers, an unreachable shop, orders from elsewhere and erased orders first."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from refund_portal_dujiaoka import testshop
from sqlalchemy import select

from portal.extensions import db
from portal.models import Event, Order
from portal.services.accounts import hash_audit
from portal.services.actors import SYSTEM
from portal.services.audit import verify
from portal.services.errors import DomainError, NotFound
from portal.services.integration import order_sync, orders
from portal.services.privacy import erasure
from tests import factories as f
from tests.conftest import csrf_from
from tests.test_order_sources import SETTINGS, mariadb_url
from tests.test_throttle import client_at

CONTACT = "buyer😀@example.com"
#: nothing listens there: connecting is refused at once
UNREACHABLE = {
    "sqlite": "sqlite:////nonexistent-folder/dujiaoka.sqlite3",
    "mariadb": "mysql+pymysql://root:@127.0.0.1:1/dujiaoka",
}


@pytest.fixture(params=["sqlite", "mariadb"])
def shop(request, app, tmp_path):
    url = (
        f"sqlite:///{tmp_path}/dujiaoka.sqlite3"
        if request.param == "sqlite"
        else mariadb_url("_pw")
    )
    s = testshop.TestShop(url).setup()
    s.kind = request.param
    app.config.update(SETTINGS, DUJIAOKA_DATABASE_URL=url)
    f.merchant("djk")
    db.session.commit()
    s.order(order_sn="SHOPPW1", search_pwd="Secret-42")
    order_sync.sync(order_sync.source("dujiaoka"))
    yield s
    s.engine.dispose()


def stored(order_no: str = "SHOPPW1") -> Order:
    db.session.expire_all()
    return db.session.scalar(select(Order).where(Order.order_no == order_no))


def kept_events() -> int:
    return len(db.session.scalars(select(Event).where(Event.kind == "query_password_kept")).all())


@pytest.fixture
def argon2_calls(monkeypatch):
    """How many Argon2 hashes and verifications ran (the cost of a lookup)."""
    calls = {"hash": 0, "verify": 0}
    for name in calls:
        real = getattr(PasswordHasher, name)

        def counted(self, *args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(PasswordHasher, name, counted)
    return calls


# --- hostile first ---


def test_an_order_comes_in_with_no_password_of_ours(shop):
    order = stored()
    assert (order.query_password_hash, order.password_source) == ("", "dujiaoka")


@pytest.mark.parametrize("wrong", ["secret-42", "Secret-42 ", "Secret-4", "", "Secret-42\0"])
def test_a_wrong_password_is_refused_and_nothing_is_kept(shop, wrong):
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", CONTACT, wrong)
    order = stored()
    assert (order.query_password_hash, order.password_source) == ("", "dujiaoka")
    assert kept_events() == 0


def test_the_wrong_contact_never_asks_the_shop(shop, monkeypatch):
    def asked(*_args):
        raise AssertionError("the shop was asked")

    monkeypatch.setattr(type(order_sync.source("dujiaoka")), "query_password", asked)
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", "someone@else.example", "Secret-42")


def test_an_unreachable_shop_is_a_clear_error_and_lets_nothing_in(shop, app):
    app.config["DUJIAOKA_DATABASE_URL"] = UNREACHABLE[shop.kind]
    with pytest.raises(DomainError) as caught:
        orders.lookup("SHOPPW1", CONTACT, "Secret-42")
    assert caught.value.rule == "order_source_unreachable"
    assert stored().query_password_hash == ""
    with pytest.raises(DomainError) as caught:  # a wrong one: the same answer, nothing learnt
        orders.lookup("SHOPPW1", CONTACT, "guess")
    assert caught.value.rule == "order_source_unreachable"


def test_lookups_while_the_shop_is_unreachable_count_as_failures(shop, app):
    app.config["DUJIAOKA_DATABASE_URL"] = UNREACHABLE[shop.kind]
    app.config["LOOKUP_RATE_LIMIT"] = "3 per minute"
    b = client_at(app, "198.51.100.7")

    def attempt(password: str) -> tuple[int, str]:
        page = b.get("/", headers={"Accept-Language": "zh-CN"})
        data = {
            "csrf_token": csrf_from(page.get_data(as_text=True)),
            "order_no": "SHOPPW1",
            "contact": CONTACT,
            "password": password,
        }
        r = b.client.post("/lookup", data=data, headers={"Accept-Language": "zh-CN"})
        return r.status_code, r.get_data(as_text=True)

    for _ in range(3):
        status, body = attempt("guess")
        assert status == 422 and "无法连接" in body
    assert attempt("Secret-42")[0] == 429  # the throttle holds while the shop is away


def test_a_source_now_reading_another_shop_is_not_asked(shop, app):
    f.merchant("other")
    db.session.commit()
    app.config["DUJIAOKA_MERCHANT"] = "other"
    with pytest.raises(DomainError) as caught:
        orders.lookup("SHOPPW1", CONTACT, "Secret-42")
    assert caught.value.rule == "order_source_unreachable"
    assert stored().query_password_hash == ""


def test_an_order_not_from_a_source_never_asks_one(shop, clock, monkeypatch):
    def asked(*_args):
        raise AssertionError("the shop was asked")

    monkeypatch.setattr(type(order_sync.source("dujiaoka")), "query_password", asked)
    api_order = f.order(clock())  # the same number in another shop, with our hash
    api_order.order_no = "SHOPPW1"
    db.session.commit()
    assert orders.lookup("SHOPPW1", f.CONTACT, f.PASSWORD).id == api_order.id
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", f.CONTACT, "Secret-42")


def test_an_erased_order_is_not_opened_by_the_shops_password(shop, clock):
    order = stored()
    assert erasure.erase_order(order.id, SYSTEM, "request", retention_days=None)
    assert stored().password_source is None
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", "", "Secret-42")


def test_a_password_the_operator_sets_replaces_the_shops(shop):
    hash_audit.set_query_password(stored(), "Operator-9")
    assert stored().password_source is None
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", CONTACT, "Secret-42")
    assert orders.lookup("SHOPPW1", CONTACT, "Operator-9").order_no == "SHOPPW1"


def test_the_order_number_must_be_the_shops_exactly(shop):
    src = order_sync.source("dujiaoka")
    assert src.query_password("SHOPPW1") == "Secret-42"
    assert src.query_password("shoppw1") is None  # MariaDB compares without case
    assert src.query_password("SHOPPW1 ") is None
    assert src.query_password("NOSUCH") is None


def test_a_hit_and_a_miss_cost_one_argon2_each_as_a_lookup_of_our_own_does(shop, argon2_calls):
    with pytest.raises(NotFound):  # warm: the dummy hash is made once per process
        orders.lookup("NOSUCH", CONTACT, "x")
    costs = []
    for number, password in (
        ("NOSUCH", "Secret-42"),  # no order
        ("SHOPPW1", "wrong-one"),  # the shop's order, wrong password
        ("SHOPPW1", "Secret-42"),  # the shop's order, right: our hash is made
        ("SHOPPW1", "Secret-42"),  # now against our hash
    ):
        argon2_calls.update(hash=0, verify=0)
        try:
            orders.lookup(number, CONTACT, password)
        except NotFound:
            pass
        costs.append(argon2_calls["hash"] + argon2_calls["verify"])
    assert costs == [1, 1, 1, 1]


# --- the buyer's way in ---


def test_the_shops_password_opens_the_order_once_then_ours_is_kept(shop):
    order = orders.lookup("SHOPPW1", CONTACT, "Secret-42")
    assert order.order_no == "SHOPPW1"
    kept = stored()
    assert kept.query_password_hash.startswith("$argon2id$")
    assert kept.password_source is None
    assert kept_events() == 1
    # the shop is not asked again: a password changed there does not change ours
    shop.update(1, search_pwd="Changed-7")
    assert orders.lookup("SHOPPW1", CONTACT, "Secret-42").id == order.id
    with pytest.raises(NotFound):
        orders.lookup("SHOPPW1", CONTACT, "Changed-7")


def test_the_audit_trail_of_imported_orders_verifies(shop):
    shop.order(
        order_sn="SHOPPW2", status=4, info="CODE-1\nCODE-2", updated_at="2026-12-01 10:00:09"
    )
    order_sync.sync(order_sync.source("dujiaoka"))
    orders.lookup("SHOPPW1", CONTACT, "Secret-42")
    report = verify.verify()
    assert report.ok, report.problems
    kinds = db.session.scalars(
        select(Event.kind).where(Event.order_id == stored("SHOPPW2").id).order_by(Event.chain_seq)
    ).all()
    assert kinds == ["order_received", "delivered"]
