"""The scale bench runs end to end at a small size on PostgreSQL (skipped when there is none),
so it cannot rot: loaded, served by gunicorn, every page answered, lists EXPLAINed, the load
phases and the sweep next to its floor, figures written."""

from __future__ import annotations

import json
import os

import pytest

from bench import scale

URL = os.environ.get(
    "BENCH_SCALE_DATABASE_URL",
    "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_scale_test",
)


def _postgres_answers() -> str | None:
    """Why PostgreSQL cannot be used here, or None."""
    import psycopg
    from sqlalchemy.engine import make_url

    u = make_url(URL)
    try:
        psycopg.connect(
            host=u.host, port=u.port or 5432, user=u.username, dbname="postgres", connect_timeout=3
        ).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL at {u.host}:{u.port or 5432} ({exc.__class__.__name__})"
    return None


def test_percentiles_take_the_nearest_rank():
    figures = scale.percentiles([float(i) for i in range(1, 101)])
    assert (figures["p50"], figures["p95"], figures["p99"], figures["n"]) == (50, 95, 99, 100)
    assert scale.percentiles([7.0])["p99"] == 7.0


def test_the_state_mix_adds_up():
    assert sum(weight for _, weight in scale.STATE_MIX) == 100
    assert "WHEN n < 60 THEN 'submitted' " in scale._state_case("n")


@pytest.mark.slow
def test_a_small_run_measures_everything(tmp_path, redis_url):
    reason = _postgres_answers()
    if reason:
        pytest.skip(reason)
    args = scale.parse(
        [
            *("--orders", "3000", "--cases", "300", "--requests", "3", "--seconds", "1"),
            *("--rounds", "1", "--database-url", URL, "--redis-url", redis_url),
            *("--out", str(tmp_path)),
        ]
    )
    run = scale.run(args)
    assert set(run.latency_ms) == set(scale.PAGES)
    assert all(f["n"] == 3 and 0 < f["p50"] <= f["p99"] for f in run.latency_ms.values())
    assert set(run.rates) == set(scale.LOADS) and all(r > 0 for r in run.rates.values())
    # every open case under review is due for a reminder and an escalation 30 days on: two
    # markers, two events and three notices each, the same from the sweep as from the floor
    assert run.sweep["rows"] > 0 and run.sweep["floor_s"] > 0 and run.sweep["sweep_s"] > 0
    for name in scale.LISTS:
        plan = (tmp_path / f"explain-{name}.txt").read_text()
        assert "Execution Time" in plan and "refund_cases" in plan
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["known"]["case_no"].startswith("RF")
