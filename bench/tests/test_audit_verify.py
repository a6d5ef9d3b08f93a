"""The audit verify bench runs end to end at a small size on PostgreSQL (skipped when there
is none): loaded through the portal's chain writer, sealed, verified clean, a tampered row
named, figures written."""

from __future__ import annotations

import json
import os

import pytest

from bench import audit_verify
from bench.tests.test_scale import _postgres_answers

URL = os.environ.get(
    "BENCH_AUDIT_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_audit_bench_test",
)


def test_a_small_run_verifies_and_names_a_changed_event(tmp_path):
    reason = _postgres_answers()
    if reason:
        pytest.skip(reason)
    status = audit_verify.main(
        ["--cases", "300", "--rounds", "1", "--url", URL, "--out", str(tmp_path)]
    )
    assert status == 0
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["sealed_heads"] == 300
    assert figures["tampered_first"].startswith("content_changed: event #")
    assert len(figures["verify_seconds"]) == 1
