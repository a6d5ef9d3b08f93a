"""The risk rules scored on the seeded synthetic history (``bench/risk_history.py``): with the
default rules they catch most abuse without flagging most honest buyers, and the over-refusing
shop is on the watched-shops list; with every rule switched off the same history scores a
recall of nothing, so the bars below measure the signals, not the generator. Why the bars are
where they are: docs/risk.md, "Scored on a synthetic history"."""

from __future__ import annotations

import json

import pytest

from bench import risk_history

SEED = 20261206
# under the worst of the seeds measured (docs/risk.md); the fixed seed scores above both
MIN_PRECISION = 0.55
MIN_RECALL = 0.70


def run(tmp_path, *extra: str) -> dict:
    assert (
        risk_history.main(["--seed", str(SEED), "--no-screens", "--out", str(tmp_path), *extra])
        == 0
    )
    return json.loads((tmp_path / "figures.json").read_text())


@pytest.mark.slow
def test_the_rules_catch_the_known_abuse_and_the_refusing_shop(tmp_path):
    figures = run(tmp_path)
    assert figures["seed"] == SEED and figures["cases"] == 97 and figures["abuse_cases"] == 27
    assert figures["precision"] >= MIN_PRECISION
    assert figures["recall"] >= MIN_RECALL
    patterns = figures["patterns"]
    reveal = patterns["reveal_then_invalid"]
    assert reveal["flagged"] == reveal["cases"] == reveal["by risk_revealed_before_claim"]
    assert patterns["shop_hopping"]["by risk_velocity_contact_hour"] >= 6  # 3rd to 5th, twice
    assert patterns["shop_hopping"]["high"] >= 2  # the 5th in the hour
    reuse = patterns["picture_reuse"]
    assert reuse["by risk_same_evidence"] + reuse["by risk_similar_evidence"] >= 5
    # honest buyers are flagged only for a reveal before the claim
    honest = patterns["honest"]
    assert honest["flagged"] == honest.get("by risk_revealed_before_claim", 0)
    assert honest["high"] == 0
    watched = figures["watched_shops"]
    assert watched["refuser_flagged"] and watched["honest_shops_flagged"] == []
    assert set(watched["flagged"]["refuser"]) >= {"refusal_rate", "overturned_refusals"}


@pytest.mark.slow
def test_with_the_signals_off_the_same_history_catches_nothing(tmp_path):
    figures = run(tmp_path, "--signals", "off")
    assert figures["cases"] == 97 and figures["abuse_cases"] == 27
    assert figures["flagged"] == 0 and figures["recall"] == 0.0 < MIN_RECALL
    # the fast lane then also pays abusers it held back before
    assert figures["auto_approved_abuse"] > 2
