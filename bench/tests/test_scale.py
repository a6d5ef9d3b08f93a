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
    # the dashboards' rollups were filled, and the pages read them
    assert run.rollups["rows"] > 0 and run.rollups["seconds"] > 0
    for name in scale.DASHBOARDS:
        plan = (tmp_path / f"explain-{name}.txt").read_text()
        assert "Execution Time" in plan and "daily_rollups" in plan
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert figures["known"]["case_no"].startswith("RF")


@pytest.mark.slow
def test_the_chained_floor_writes_links_that_verify(tmp_path, redis_url):
    """The sweep's anchor does the audit trail's work for real: every event it writes is a
    link whose hash covers its content and the link before, as ``audit verify`` checks."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select

    from portal.domain import audit_chain
    from portal.extensions import db
    from portal.models import ChainHead, Event

    audit_chain_heads = ChainHead.__table__
    reason = _postgres_answers()
    if reason:
        pytest.skip(reason)
    url = URL.replace("scale_test", "scale_floor_test")
    scale.run(
        scale.parse(
            [
                *("--orders", "2000", "--cases", "200", "--phases", "sweep"),
                *("--sweep-rounds", "1", "--database-url", url, "--redis-url", redis_url),
                *("--out", str(tmp_path)),
            ]
        )
    )
    app = scale._app(scale._sqlalchemy_url(url), redis_url, tmp_path)
    now = datetime.now(UTC).replace(microsecond=0) + timedelta(days=31)
    with app.app_context():
        with db.engine.begin() as conn:
            written = scale._chained_floor(conn, now)
        events = db.session.execute(
            select(Event.__table__)
            .where(Event.created_at == now)
            .order_by(Event.chain, Event.chain_seq)
        ).mappings()
        links = 0
        last: dict[str, tuple[int, str]] = {}
        for event in events:
            seq, prev = last.get(event["chain"], (0, audit_chain.GENESIS))
            assert (event["chain_seq"], event["prev_hash"]) == (seq + 1, prev)
            assert audit_chain.link_hash(prev, event) == event["hash"]
            last[event["chain"]] = (event["chain_seq"], event["hash"])
            links += 1
        heads = {
            chain: head
            for chain, head in db.session.execute(
                select(audit_chain_heads.c.chain, audit_chain_heads.c.hash)
            )
        }
        assert links > 0 and written > links
        assert all(heads[chain] == head for chain, (_seq, head) in last.items())
