"""Stored password hashes too costly to verify are never verified in a web worker.

The shop API bounds the Argon2 cost of query-password hashes on the way in
(``tests/test_api_password_hash.py``); rows written before that bound existed, or edited in
the database, can still hold any cost. Such a hash fails the check (as a miss does, and costing
what a miss costs), the log names the row and the command that fixes it, and
``refund-portal password-hashes`` lists every such row.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from portal.extensions import db
from portal.models import Event, Order, User
from tests import factories as f

SALT, DIGEST = "c2FsdHNhbHRzYWx0c2FsdA", "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"
#: the reported one: verifying it would keep a worker busy for hours (4 GiB, 2**32 passes)
HUGE = f"$argon2id$v=19$m=4194304,t=4294967295,p=1${SALT}${DIGEST}"


@pytest.fixture
def verified(monkeypatch) -> list[str]:
    """Every hash the portal hands to Argon2 to verify."""
    seen: list[str] = []
    real = PasswordHasher.verify

    def spy(self, hash, password):
        seen.append(hash if isinstance(hash, str) else hash.decode())
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return seen


def store(order: Order, encoded: str) -> None:
    """Write the hash straight into the row, as an old release or a hand edit would have."""
    db.session.execute(
        update(Order).where(Order.id == order.id).values(query_password_hash=encoded)
    )
    db.session.commit()


def lookup(browser, order: Order, password: str = f.PASSWORD):
    data = {"order_no": order.order_no, "contact": f.CONTACT, "password": password}
    return browser.submit("/", "/lookup", data)


def test_a_huge_stored_cost_fails_the_lookup_unverified_and_says_how_to_fix_it(
    app, browser, clock, verified, caplog
):
    order = f.order(clock())
    store(order, HUGE)
    r = lookup(browser, order)
    assert r.status_code == 422  # the answer every failed lookup gets
    assert "No order matches" in r.get_data(as_text=True)
    assert HUGE not in verified and len(verified) == 1  # the dummy hash instead, for timing
    assert "m=4194304,t=4294967295,p=1 is over the bound m<=65536,t<=3,p<=4" in caplog.text
    slug = db.session.get(Order, order.id).merchant.slug
    assert f"order {order.order_no} of {slug}" in caplog.text
    assert f"refund-portal set-query-password {order.order_no} --merchant {slug}" in caplog.text
    assert browser.get(f"/orders/{order.order_no}").status_code == 303  # no access given


def test_the_right_password_under_a_cost_over_the_bound_is_refused_too(
    app, browser, clock, verified
):
    """A real hash of the right password with t=4 (the bound is 3): not verified, so the
    holder of the right password is refused as well until the operator replaces it."""
    order = f.order(clock())
    over = PasswordHasher(time_cost=4, memory_cost=1024).hash(f.PASSWORD)
    store(order, over)
    assert lookup(browser, order).status_code == 422
    assert over not in verified
    store(order, PasswordHasher(time_cost=3, memory_cost=1024).hash(f.PASSWORD))  # at the bound
    assert lookup(browser, order).status_code == 303


def test_a_staff_hash_over_the_bound_fails_the_login(app, browser, verified, caplog):
    f.staff("rev1")
    db.session.execute(update(User).where(User.username == "rev1").values(password_hash=HUGE))
    db.session.commit()
    data = {"username": "rev1", "password": "password-123"}
    r = browser.submit("/staff/login", "/staff/login", data)
    assert r.status_code != 303
    assert HUGE not in verified
    assert "staff login rev1" in caplog.text
    assert "refund-portal set-password rev1" in caplog.text


def test_the_portals_own_higher_cost_is_still_verified(app, browser):
    """An operator who configures a cost above the shop bound can still sign in."""
    app.config["ARGON2_TIME_COST"] = 5
    f.staff("rev1")
    assert db.session.scalar(select(User.password_hash)).count("t=5") == 1
    data = {"username": "rev1", "password": "password-123"}
    assert browser.submit("/staff/login", "/staff/login", data).status_code == 303


def test_the_operator_lists_such_rows_and_replaces_a_query_password(app, browser, clock):
    order = f.order(clock())
    store(order, HUGE)
    f.staff("rev1")
    db.session.execute(update(User).where(User.username == "rev1").values(password_hash=HUGE))
    db.session.commit()
    slug = db.session.get(Order, order.id).merchant.slug
    runner = app.test_cli_runner()

    listed = runner.invoke(args=["password-hashes"])
    assert listed.exit_code == 1, listed.output
    assert f"order {order.order_no} of {slug}: its Argon2 cost m=4194304" in listed.output
    assert "staff login rev1: its Argon2 cost" in listed.output
    assert "2 stored hash(es) over the bound" in listed.output

    fixed = runner.invoke(
        args=["set-query-password", order.order_no, "--merchant", slug],
        input="new-pass-1\nnew-pass-1\n",
    )
    assert fixed.exit_code == 0, fixed.output
    assert lookup(browser, order, "new-pass-1").status_code == 303
    db.session.expire_all()
    kinds = db.session.scalars(select(Event.kind).where(Event.order_id == order.id)).all()
    assert "query_password_reset" in kinds
    refused = runner.invoke(
        args=["set-query-password", "NOPE", "--merchant", slug], input="new-pass-1\nnew-pass-1\n"
    )
    assert refused.exit_code != 0 and "no order 'NOPE'" in refused.output
    again = runner.invoke(args=["password-hashes"])
    assert "1 stored hash(es) over the bound" in again.output
