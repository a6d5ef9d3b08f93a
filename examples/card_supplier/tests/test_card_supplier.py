"""The supplier check against its simulator over real HTTP, then through the portal: a code
the supplier reports redeemed becomes a signal on the case; a supplier that is slow, answers
garbage or fails gives "unknown" and the application is filed all the same."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points

import pytest
import refund_portal_card_supplier.plugin as supplier_plugin
from refund_portal_card_supplier import client
from refund_portal_card_supplier.simulator import SupplierSimulator

from portal.plugins.supplier_kit import file_claim
from portal.plugins.suppliers import Redemption, SupplierQuery

KEY = "supplier-test-key-1"
REDEEMED_AT = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)


@pytest.fixture
def supplier():
    sim = SupplierSimulator(KEY)
    sim.issue("CARD-USED-1", REDEEMED_AT)
    sim.issue("CARD-FRESH-1")
    sim.url = sim.start()
    yield sim
    sim.stop()


def settings_for(sim, **extra):
    return {
        "CARD_SUPPLIER_URL": sim.url,
        "CARD_SUPPLIER_KEY": KEY,
        "CARD_SUPPLIER_NAME": "Demo card supplier",
        "CARD_SUPPLIER_TIMEOUT": "2",
        **extra,
    }


def query(code, sku="kit-card"):
    return SupplierQuery("K1", sku, code, REDEEMED_AT - timedelta(days=1))


def test_entry_point_loads_the_plugin():
    [ep] = [ep for ep in entry_points(group="refund_portal") if ep.name == "card_supplier"]
    assert ep.dist.name == "refund-portal-card-supplier"
    assert ep.load() is supplier_plugin


# ---- hostile answers first -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["garbage", "wrong_status", "error"])
def test_an_answer_outside_the_protocol_raises(supplier, mode):
    supplier.misbehave(mode)
    with pytest.raises(client.SupplierError):
        client.ask(supplier.url, KEY, "CARD-USED-1", "K1", 2)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b'{"status": "redeemed", "redeemed_at": "2026-12-01T08:30:00"}'),  # no offset
        (200, b'{"status": "redeemed", "redeemed_at": 5}'),
        (200, b'["redeemed"]'),
        (200, b"\xff\xfe"),
        (302, b'{"status": "unused"}'),
    ],
)
def test_malformed_answers_raise(status, body):
    with pytest.raises(client.SupplierError):
        client.read_answer(status, body)


def test_a_wrong_key_is_refused_by_the_supplier(supplier):
    with pytest.raises(client.SupplierError):
        client.ask(supplier.url, "not-the-key", "CARD-USED-1", "K1", 2)
    assert supplier.requests == []


def test_a_supplier_that_does_not_answer_in_time_raises(supplier):
    supplier.misbehave("slow")
    started = time.monotonic()
    with pytest.raises(client.SupplierError):
        client.ask(supplier.url, KEY, "CARD-USED-1", "K1", 0.3)
    assert time.monotonic() - started < 2


def test_nothing_listening_raises():
    with pytest.raises(client.SupplierError):
        client.ask("http://127.0.0.1:1", KEY, "CARD-USED-1", "K1", 1)


# ---- the protocol -------------------------------------------------------------------------


def test_the_supplier_answers_redeemed_unused_and_unknown(supplier):
    used = supplier_plugin.check_supplier_redemption(query("CARD-USED-1"), settings_for(supplier))
    assert used.status == Redemption.REDEEMED and used.redeemed_at == REDEEMED_AT
    assert used.supplier == "Demo card supplier"
    fresh = supplier_plugin.check_supplier_redemption(query("CARD-FRESH-1"), settings_for(supplier))
    assert fresh.status == Redemption.NOT_REDEEMED and fresh.redeemed_at is None
    other = supplier_plugin.check_supplier_redemption(query("NOT-OURS"), settings_for(supplier))
    assert other.status == Redemption.UNKNOWN
    assert [r["code"] for r in supplier.requests] == ["CARD-USED-1", "CARD-FRESH-1", "NOT-OURS"]


def test_not_configured_or_another_suppliers_product_is_not_asked(supplier):
    assert supplier_plugin.check_supplier_redemption(query("CARD-USED-1"), {}) is None
    settings = settings_for(supplier, CARD_SUPPLIER_SKU_PREFIX="steam-")
    assert supplier_plugin.check_supplier_redemption(query("CARD-USED-1"), settings) is None
    assert supplier_plugin.check_supplier_redemption(query("CARD-USED-1", "steam-50"), settings)
    assert len(supplier.requests) == 1


# ---- through the portal -------------------------------------------------------------------


def signals(found):
    return {s["code"]: s for s in found}


def test_a_code_the_supplier_reports_redeemed_makes_the_case_high_risk(supplier, tmp_path):
    found = signals(
        file_claim(
            supplier_plugin, settings_for(supplier), ["CARD-USED-1", "CARD-FRESH-1"], tmp_path
        )
    )
    redeemed = found["risk_supplier_redeemed"]
    assert redeemed["value"] == 1 and redeemed["level"] == "high"
    assert redeemed["params"]["supplier"] == "Demo card supplier"
    assert "risk_supplier_unknown" not in found


def test_unused_codes_raise_nothing(supplier, tmp_path):
    found = signals(file_claim(supplier_plugin, settings_for(supplier), ["CARD-FRESH-1"], tmp_path))
    assert "risk_supplier_redeemed" not in found and "risk_supplier_unknown" not in found


@pytest.mark.parametrize("mode", ["slow", "garbage", "error"])
def test_a_supplier_misbehaving_gives_unknown_and_the_case_is_filed(supplier, tmp_path, mode):
    supplier.misbehave(mode)
    started = time.monotonic()
    found = signals(
        file_claim(
            supplier_plugin, settings_for(supplier), ["CARD-USED-1"], tmp_path, timeout_s=0.5
        )
    )
    assert time.monotonic() - started < 10  # the filing did not wait for the slow supplier
    unknown = found["risk_supplier_unknown"]
    assert unknown["value"] == 1 and unknown["level"] == "low"
    assert unknown["params"]["plugin"] == "supplier-under-test"
    assert "risk_supplier_redeemed" not in found


# ---- the example's own risk signal (assess_refund_risk) ------------------------------------


def test_a_large_claim_on_the_suppliers_cards_asks_for_a_person(supplier, tmp_path):
    settings = settings_for(supplier, CARD_SUPPLIER_ALERT_FEN="500")
    found = signals(file_claim(supplier_plugin, settings, ["CARD-FRESH-1"], tmp_path))
    kept = found["risk_plugin"]
    assert kept["value"] == 1 and kept["level"] == "review"
    assert kept["params"]["plugin"] == "supplier-under-test"
    assert "¥5.00" in kept["params"]["words_en"] and "¥5.00" in kept["params"]["words_zh"]


def test_below_the_alert_or_without_one_nothing_is_said(supplier, tmp_path):
    for extra in ({"CARD_SUPPLIER_ALERT_FEN": "5000"}, {}):
        found = signals(
            file_claim(supplier_plugin, settings_for(supplier, **extra), ["CARD-FRESH-1"], tmp_path)
        )
        assert "risk_plugin" not in found
