"""Verifying the audit trail of a hundred thousand cases: ``refund-portal audit verify``'s work
(``portal.services.audit.verify``) over a clean, sealed history on PostgreSQL. Goal: <= 30 s.

``python -m bench audit_verify [--cases N] [--events K] [--url URL]``:

1. **Load**: a fresh database (``--url``, ``PORTAL_DATABASE_URL`` or ``DEFAULT_URL``, created
   if missing; its ``public`` schema emptied) migrated by the project's migrations; one shop,
   ``--cases`` orders each with a decided case (set-based SQL); then ``--events`` events per
   case (applied, review started, two messages, decided) linked into their chains by the
   portal's own writer (``portal.services.audit.chain.link``, a page of cases per transaction,
   as the sweep writes) and inserted.
2. **Seal**: the day sealed by ``portal.services.audit.seals.seal_day`` (every chain head).
3. **Verify**: ``verify()`` over everything, timed, three rounds; the report must be clean and
   count every event. Then one event's words are changed in the database and a fourth round
   must name it.

The load average is printed at the start and end; figures are written under
``bench/results/audit-verify-<UTC time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.scale import create_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_audit_bench"
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_SECONDS = 30.0
PAGE = 2000  # cases per load transaction
#: the events each case gets, in order: (kind, from, to, who, words)
STORY = (
    ("applied", "", "submitted", "buyer", "the code is invalid"),
    ("transition", "submitted", "under_review", "reviewer", ""),
    ("message", "", "", "reviewer", "please send a screenshot of the error"),
    ("message", "", "", "buyer", "here it is"),
    ("transition", "under_review", "rejected", "reviewer", "the code was used before"),
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench audit_verify")
    p.add_argument("--cases", type=int, default=100_000)
    p.add_argument("--events", type=int, default=len(STORY), help="events per case")
    p.add_argument("--url", default=os.environ.get("PORTAL_DATABASE_URL") or DEFAULT_URL)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--out", default=None, help="folder for the figures (default: results/)")
    return p.parse_args(argv)


def _app(url: str) -> Any:
    from portal import create_app
    from portal.services.audit import keys

    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "bench-audit-verify-secret-key-not-for-production-0123456789",
            "DATABASE_URL": url,
            "AUDIT_SEAL_KEY": keys.new_key_text(),
        }
    )


def load_cases(conn: Any, cases: int, now: datetime) -> None:
    """One shop, ``cases`` orders each with a decided case (set-based)."""
    ex = conn.exec_driver_sql
    ex("INSERT INTO merchants (id, slug, name, created_at) VALUES (1, 'shop', 'Shop', %s)", (now,))
    ex(
        "INSERT INTO products (id, merchant_id, sku, title, description, face_value_fen,"
        " price_fen, delivery_type, delivery_sla_minutes, refund_window_days, policy_text,"
        " policy_overrides_window) VALUES (1, 1, 'card', 'Game card', '', 10000, 9500,"
        " 'instant', 5, 7, '', false)"
    )
    ex(
        "INSERT INTO orders (id, order_no, merchant_id, product_id, buyer_contact,"
        " query_password_hash, quantity, amount_fen, currency, created_at, paid_at,"
        " delivered_at, cancel_reason, goods_used, source_print)"
        " SELECT g, 'SO' || lpad(g::text, 8, '0'), 1, 1, '13800000000', 'x', 1, 9500, 'CNY',"
        " %(t)s, %(t)s, %(t)s, '', false, '' FROM generate_series(1, %(n)s) g",
        {"t": now - timedelta(days=2), "n": cases},
    )
    ex(
        "INSERT INTO refund_cases (id, case_no, order_id, merchant_id, kind, reason,"
        " explanation, amount_requested_fen, state, version, deadline_kind, decision_note,"
        " info_request, appeal_count, auto_rule, created_at, updated_at)"
        " SELECT g, 'RF' || lpad(g::text, 10, '0'), g, 1, 'refund_only', 'unusable',"
        " 'the code is invalid', 9500, 'rejected', 3, '', '', '', 0, '', %(t)s, %(t)s"
        " FROM generate_series(1, %(n)s) g",
        {"t": now - timedelta(days=1), "n": cases},
    )
    for table in ("merchants", "products", "orders", "refund_cases"):
        ex(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


def load_events(cases: int, per_case: int, now: datetime) -> None:
    """``per_case`` events for each case, linked by the portal's writer, a page per
    transaction."""
    from sqlalchemy import insert

    from portal.extensions import db
    from portal.models import Event
    from portal.services.audit import chain

    story = [STORY[i % len(STORY)] for i in range(per_case)]
    start = now - timedelta(days=1)
    for first in range(1, cases + 1, PAGE):
        rows = []
        for case_id in range(first, min(first + PAGE, cases + 1)):
            for i, (kind, frm, to, role, words) in enumerate(story):
                rows.append(
                    {
                        "kind": kind,
                        "case_id": case_id,
                        "order_id": case_id,
                        "payout_id": None,
                        "actor_role": role,
                        "actor_id": None,
                        "actor_label": role,
                        "from_state": frm,
                        "to_state": to,
                        "reason": words,
                        "data": {"step": i} if kind == "applied" else {},
                        "created_at": start + timedelta(seconds=case_id % 80_000, minutes=i),
                    }
                )
        db.session.execute(insert(Event.__table__), chain.link(rows))
        db.session.commit()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench audit_verify``; 0 if the goal is met and tampering is found."""
    args = parse(argv or [])
    print(
        f"audit_verify: {args.cases} cases x {args.events} events; load average"
        f" {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    from sqlalchemy import text

    from portal.extensions import db
    from portal.infra.migrations import upgrade
    from portal.services.audit import seals
    from portal.services.audit.verify import verify

    create_database(args.url)
    app = _app(args.url)
    now = datetime.now(UTC)
    figures: dict[str, Any] = {"args": vars(args), "goal_seconds": GOAL_SECONDS}
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()
        started = time.perf_counter()
        with db.engine.begin() as conn:
            load_cases(conn, args.cases, now)
        load_events(args.cases, args.events, now)
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
        figures["load_seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        seal = seals.seal_day(seals.yesterday(now)).seal
        figures["seal_seconds"] = round(time.perf_counter() - started, 2)
        figures["sealed_heads"] = seal.head_count
        print(f"loaded in {figures['load_seconds']} s; sealed {seal.head_count} heads", flush=True)
        rounds = []
        for n in range(args.rounds):
            db.session.remove()
            started = time.perf_counter()
            report = verify()
            took = time.perf_counter() - started
            rounds.append(took)
            print(
                f"round {n + 1}: {report.events} events, {report.chains} chains,"
                f" {report.seals} seals in {took:.2f} s; clean: {report.ok}",
                flush=True,
            )
            if not report.ok or report.events != args.cases * args.events:
                print(f"FAIL: not a clean report: {report.problems[:3]}")
                return 1
        figures["verify_seconds"] = [round(r, 2) for r in rounds]
        figures["verify_median_seconds"] = round(statistics.median(rounds), 2)
        # one event's words changed in the database: the next round names it
        victim = args.cases // 2 * args.events + 3
        with db.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER events_no_update")
            conn.execute(
                text("UPDATE events SET reason = 'changed' WHERE id = :id"), {"id": victim}
            )
            conn.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER events_no_update")
        db.session.remove()
        started = time.perf_counter()
        report = verify()
        figures["tampered_verify_seconds"] = round(time.perf_counter() - started, 2)
        first = report.first
        figures["tampered_first"] = first.describe() if first else None
        print(f"tampered: {figures['tampered_first']}", flush=True)
        found = first is not None and first.event_id == victim
    figures["load_end"] = os.getloadavg()
    out = (
        Path(args.out) if args.out else RESULTS / f"audit-verify-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(figures, indent=1))
    (out / "command.txt").write_text(" ".join(["python -m bench audit_verify", *(argv or [])]))
    median = figures["verify_median_seconds"]
    print(
        f"verify median {median} s (goal <= {GOAL_SECONDS} s); tampering named: {found};"
        f" load average {os.getloadavg()[0]:.2f}; figures in {out}",
        flush=True,
    )
    return 0 if median <= GOAL_SECONDS and found else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
