"""The supplier check (``check_supplier_redemption``): asked while an "invalid" claim is filed,
kept on the case, a signal for the reviewer. Hostile plugins first: one that raises, one that
returns garbage, one that hangs; none of them fails the application or holds it longer than
SUPPLIER_CHECK_TIMEOUT. (examples/card_supplier/ shows one over real HTTP.)"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from portal import hookimpl
from portal.domain.policy import Reason
from portal.extensions import db
from portal.models import SupplierCheck
from portal.plugins.suppliers import Redemption, RedemptionAnswer, SupplierQuery
from tests import factories as f
from tests.test_risk import apply, order_for, signals_of

REDEEMED_AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


class Supplier:
    """A supplier plugin that knows codes by text: redeemed (a time), unused (None)."""

    def __init__(self, codes, name="Demo supplier") -> None:
        self.codes = codes
        self.name = name
        self.queries: list[SupplierQuery] = []

    @hookimpl
    def check_supplier_redemption(self, query):
        self.queries.append(query)
        if query.code not in self.codes:
            return None
        at = self.codes[query.code]
        status = Redemption.REDEEMED if at else Redemption.NOT_REDEEMED
        return RedemptionAnswer(self.name, status, at)


class Raising:
    @hookimpl
    def check_supplier_redemption(self, query):
        raise ConnectionRefusedError("supplier down")


class Garbage:
    def __init__(self, value) -> None:
        self.value = value

    @hookimpl
    def check_supplier_redemption(self, query):
        return self.value


class Hanging:
    def __init__(self) -> None:
        self.release = threading.Event()

    @hookimpl
    def check_supplier_redemption(self, query):
        self.release.wait(30)
        return RedemptionAnswer("Late", Redemption.REDEEMED, None)


@pytest.fixture
def plugins(app):
    pm = app.extensions["portal.plugins.manager"]
    added: list[str] = []

    def add(plugin, name):
        pm.register(plugin, name=name)
        added.append(name)
        return plugin

    yield add
    for name in added:
        pm.unregister(name=name)


def codes_of(clock, *codes, contact="s@example.com"):
    o = order_for(clock, contact=contact)
    for c, text in zip(o.codes, codes, strict=False):
        c.code = text
    db.session.commit()
    return o


def test_hook_check_supplier_redemption(app, clock, plugins):
    supplier = plugins(Supplier({"USED-1": REDEEMED_AT}), "demo-supplier")
    order = codes_of(clock, "USED-1")
    case = apply(order)
    [q] = supplier.queries
    assert isinstance(q, SupplierQuery)
    assert (q.code, q.order_no, q.product_sku) == ("USED-1", order.order_no, order.product.sku)
    assert q.delivered_at == order.codes[0].delivered_at
    assert signals_of(case)["risk_supplier_redeemed"] == (1, "high")
    kept = next(s for s in case.risk_signals if s["code"] == "risk_supplier_redeemed")
    assert kept["params"]["supplier"] == "Demo supplier" and kept["params"]["checked_at"]
    row = db.session.scalars(select(SupplierCheck).where(SupplierCheck.case_id == case.id)).one()
    assert (row.status, row.plugin, row.redeemed_at) == ("redeemed", "demo-supplier", REDEEMED_AT)
    assert case.auto_rule == ""  # high risk: never approved automatically


@pytest.mark.parametrize(
    ("plugin", "why"),
    [
        (Raising(), "failed"),
        (Garbage({"status": "redeemed"}), "bad_answer"),
        (Garbage("redeemed"), "bad_answer"),
        (Garbage(RedemptionAnswer("X", "probably", None)), "bad_answer"),  # type: ignore[arg-type]
        (Garbage(RedemptionAnswer("X", Redemption.REDEEMED, datetime(2026, 1, 1))), "bad_answer"),
        (Garbage(RedemptionAnswer(None, Redemption.REDEEMED, None)), "bad_answer"),  # type: ignore[arg-type]
    ],
    ids=["raises", "dict", "text", "bad status", "naive time", "no name"],
)
def test_a_failing_or_garbage_answer_is_unknown_never_an_error(app, clock, plugins, plugin, why):
    plugins(plugin, "bad-supplier")
    case = apply(codes_of(clock, "ANY-1"))
    assert signals_of(case)["risk_supplier_unknown"] == (1, "low")
    assert "risk_supplier_redeemed" not in signals_of(case)
    row = db.session.scalars(select(SupplierCheck).where(SupplierCheck.case_id == case.id)).one()
    assert (row.status, row.why) == ("unknown", why)


def test_a_hanging_supplier_is_abandoned_after_the_timeout(app, clock, plugins):
    hanging = plugins(Hanging(), "slow-supplier")
    plugins(Supplier({"USED-1": REDEEMED_AT}), "demo-supplier")
    app.config["SUPPLIER_CHECK_TIMEOUT"] = 0.3
    try:
        started = time.monotonic()
        case = apply(codes_of(clock, "USED-1"))
        waited = time.monotonic() - started
    finally:
        hanging.release.set()
    assert waited < 5
    got = signals_of(case)
    assert got["risk_supplier_unknown"] == (1, "low")
    assert got["risk_supplier_redeemed"] == (1, "high")  # the other supplier's answer counts
    whys = db.session.scalars(
        select(SupplierCheck.why).where(SupplierCheck.case_id == case.id).order_by("plugin")
    ).all()
    assert whys == ["", "timeout"]


def test_only_claims_that_a_code_does_not_work_ask_the_supplier(app, clock, plugins):
    supplier = plugins(Supplier({"USED-1": REDEEMED_AT}), "demo-supplier")
    case = apply(codes_of(clock, "USED-1"), reason=Reason.OTHER)
    assert supplier.queries == [] and "risk_supplier_redeemed" not in signals_of(case)


def test_a_supplier_that_does_not_know_the_code_raises_nothing(app, clock, plugins):
    plugins(Supplier({"FRESH-1": None}), "demo-supplier")
    fresh = apply(codes_of(clock, "FRESH-1", contact="a@example.com"))
    stranger = apply(codes_of(clock, "OTHER-1", contact="b@example.com"))
    for case in (fresh, stranger):
        assert not {"risk_supplier_redeemed", "risk_supplier_unknown"} & set(signals_of(case))


def test_the_buyer_files_through_the_form_while_the_supplier_fails(app, browser, clock, plugins):
    from tests.conftest import csrf_from
    from tests.test_buyer_flow import login_order

    plugins(Raising(), "bad-supplier")
    order = f.order(clock())
    assert login_order(browser, order).status_code == 303
    url = f"/orders/{order.order_no}/apply"
    token = csrf_from(browser.get(url).get_data(as_text=True))
    r = browser.client.post(
        url,
        data={
            "csrf_token": token,
            "kind": "refund_only",
            "reason": "unusable",
            "amount": "",
            "explanation": "the code fails",
        },
    )
    assert r.status_code == 303, r.get_data(as_text=True)[:500]
    row = db.session.scalars(select(SupplierCheck)).one()
    assert row.status == "unknown"


def test_the_reviewer_reads_the_suppliers_answer(app, browser, clock, plugins):
    plugins(Supplier({"USED-1": REDEEMED_AT}, name="Steam cards Ltd"), "demo-supplier")
    case = apply(codes_of(clock, "USED-1"))
    f.staff("rev-sup")
    browser.submit(
        "/staff/login", "/staff/login", {"username": "rev-sup", "password": "password-123"}
    )
    html = browser.get(f"/review/cases/{case.case_no}").get_data(as_text=True)
    assert "The card supplier (Steam cards Ltd) says 1 code(s) of this order were" in html
    assert "USED-1" not in html.split("The card supplier", 1)[1][:300]  # the code is not echoed
