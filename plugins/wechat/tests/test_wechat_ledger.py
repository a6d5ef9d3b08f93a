"""The simulator's books, without HTTP: limits per trade and what a repeat may change."""

from __future__ import annotations

import time

from refund_portal_wechat.simulator.ledger import Ledger


def _refund(key: str, fen: int, trade: str = "T1") -> dict:
    return {
        "transaction_id": trade,
        "out_refund_no": key,
        "amount": {"refund": fen, "total": 1000, "currency": "CNY"},
    }


def test_refunds_are_counted_per_trade_and_survive_the_trade_being_registered_again():
    ledger = Ledger()
    ledger.add_trade("T1", "O1", 1000)
    ledger.add_trade("T2", "O2", 1000)
    assert ledger.apply_refund(_refund("K1", 600), lambda: "SUCCESS").status == 200
    assert ledger.apply_refund(_refund("K2", 900, "T2"), lambda: "SUCCESS").status == 200
    assert ledger.refunded_fen("T1") == 600 and ledger.refunded_fen("T2") == 900
    ledger.add_trade("T1", "O1", 1000)  # registered again: what was refunded stays refunded
    over = ledger.apply_refund(_refund("K3", 500), lambda: "SUCCESS")
    assert over.status == 400 and over.body["code"] == "NOT_ENOUGH"
    assert ledger.apply_refund(_refund("K4", 400), lambda: "SUCCESS").status == 200
    assert ledger.refunded_fen("T1") == 1000
    assert [m["out_refund_no"] for m in ledger.movements("T1")] == ["K1", "K4"]


def test_a_delayed_refund_settles_on_the_tick_and_leaves_the_processing_set():
    settled = []
    ledger = Ledger(settle_delay_s=0.05, on_settled=settled.append)
    ledger.add_trade("T1", "O1", 1000)
    answer = ledger.apply_refund(_refund("K1", 100), lambda: "SUCCESS")
    assert answer.body["status"] == "PROCESSING" and ledger.processing == {"K1"}
    ledger.settle_all_due()
    assert settled == []  # not yet due
    time.sleep(0.06)
    ledger.settle_all_due()
    assert [r.out_refund_no for r in settled] == ["K1"] and ledger.processing == set()
    assert ledger.get("K1").status == "SUCCESS"
