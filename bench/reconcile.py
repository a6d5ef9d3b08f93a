"""Daily reconciliation at a million bill rows on PostgreSQL: the product's matching, its time
and Python memory peak, next to a plain-SQL join of the same rows (the floor), interleaved.

``python -m bench reconcile [--sizes 100000,1000000] [--rounds 3]``:

1. **Load**: a fresh database (``PORTAL_DATABASE_URL``, or ``DEFAULT_URL``, created if
   missing; its ``public`` schema emptied) migrated by the project's Alembic migrations; one
   order, payment and case (``bench.scale.load``), then, set-based (``INSERT ... SELECT
   generate_series``), for each size N a channel of its own (``bench<N>``) with N succeeded
   payouts settled on one Beijing day, ``FAULTS`` of them settled the day before.
2. **The bill** of each channel for that day, made as it is read (never a list): one row per
   payout of the day, and ``FAULTS`` of each fault: a row dropped, an amount changed, a row
   twice, a row of a refund settled the day before, a row for a refund we never sent. The
   same rows for the product (as ``BillRow``, the channels' contract) and the floor (tuples).
3. **Product**: ``fetching.reconcile_fetched`` — what the nightly job calls with a channel's
   rows: the rows streamed into the database, matched, every difference recorded with its
   audit event, the day's totals and the ledger's, committed. The day's run and differences
   are deleted before each round so each does the same work.
4. **Floor**: the same rows sent by COPY into a temporary table and one SQL statement naming
   every difference (a full join of the bill, folded by refund number, with our payouts of
   the day; the few unmatched numbers looked up among all our payouts), on a raw
   connection. It records nothing and totals nothing.
5. Product and floor alternate (which goes first alternates by round); the medians are
   compared: goal, the product >= ``SPEED_GOAL`` x the floor's speed at the largest size.
   One more round of each per size under ``tracemalloc``: the Python memory peak. Goal: the
   product's peak at the largest size <= ``FLAT_GOAL`` x its peak at the smallest (the same
   number of differences at every size). Both must name exactly the faults put in.

The load average is printed at the start and end; the printed lines and the figures are
written under ``bench/results/reconcile-<UTC time>/``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import scale
from portal.domain import payout_states
from portal.domain.reconciliation import DifferenceKind, day_bounds

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_recon"
RESULTS = scale.RESULTS
DAY = date(2026, 3, 10)
#: how many of each fault every bill carries, whatever its size
FAULTS = 50
SPEED_GOAL = 0.5  # the product's speed over the floor's
FLAT_GOAL = 1.5  # the product's memory peak at the largest size over that at the smallest
K = DifferenceKind
#: fault -> the difference it must show as
EXPECTED = {
    "dropped": K.MISSING_FROM_BILL,
    "amount": K.AMOUNT_DIFFERS,
    "twice": K.DUPLICATE,
    "day_before": K.DIFFERENT_DAY,
    "stranger": K.UNKNOWN_AT_GATEWAY,
}
FAULT_OF = {0: "dropped", 1: "amount", 2: "twice", 3: "day_before"}


def channel_of(size: int) -> str:
    """The channel whose payouts make the bill of ``size`` rows."""
    return f"bench{size}"


def key(size: int, i: int) -> str:
    """Our refund number (the payout's idempotency key) of payout ``i`` of a size."""
    return f"B{size}-{i:09d}"


def fault(size: int, i: int) -> str | None:
    """Which fault payout ``i`` of a size carries, if any: the first ``4 x FAULTS`` payouts
    spread evenly over the day, in turn."""
    step = size // (4 * FAULTS)
    if i % step or i // step >= 4 * FAULTS:
        return None
    return FAULT_OF[(i // step) % 4]


def amount(i: int) -> int:
    """What payout ``i`` paid, in fen."""
    return 100 + (i * 7919) % 99_900


def settled(i: int) -> datetime:
    """When payout ``i`` was settled (on ``DAY``, Beijing time)."""
    start, _ = day_bounds(DAY)
    return start + timedelta(seconds=(i * 37) % 86_400)


# ---------------------------------------------------------------------------------------------
# the database


def load_payouts(conn: Any, size: int, now: datetime) -> None:
    """``size`` succeeded payouts on the size's channel, settled on ``DAY`` (those carrying
    the day-before fault, on the day before), all of the one bench case."""
    step = size // (4 * FAULTS)
    start, _ = day_bounds(DAY)
    conn.exec_driver_sql(
        "INSERT INTO payouts (case_id, order_id, payment_id, channel, idempotency_key,"
        " amount_fen, currency, state, attempts, gateway_reference, last_code, last_message,"
        " created_at, settled_at, batch_ref)"
        " SELECT 1, 1, 1, %(ch)s, %(prefix)s || lpad(g::text, 9, '0'),"
        " 100 + (g::bigint * 7919) %% 99900, 'CNY', %(state)s, 1, 'GW' || g, '', '',"
        " %(now)s, %(start)s + ((g::bigint * 37) %% 86400) * interval '1 second'"
        "  - CASE WHEN g %% %(step)s = 0 AND g / %(step)s < %(faulty)s"
        "     AND (g / %(step)s) %% 4 = 3 THEN interval '1 day' ELSE interval '0' END,"
        " ''"
        " FROM generate_series(0, %(size)s - 1) g",
        {
            "ch": channel_of(size),
            "prefix": f"B{size}-",
            "state": payout_states.PayoutState.SUCCEEDED.value,
            "now": now,
            "start": start,
            "step": step,
            "faulty": 4 * FAULTS,
            "size": size,
        },
    )


def bill(size: int, make: Callable[[str, str, int, datetime], Any]) -> Iterator[Any]:
    """The size's bill for ``DAY``, row by row, each made by ``make(refund_no, reference,
    amount_fen, at)``."""
    start, _ = day_bounds(DAY)
    for i in range(size):
        kind = fault(size, i)
        no, at = key(size, i), settled(i)
        if kind == "dropped":
            continue
        if kind == "day_before":  # settled the day before; the gateway shows it on DAY
            yield make(no, f"GW{i}", amount(i), start + timedelta(seconds=i % 3600))
            continue
        yield make(no, f"GW{i}", amount(i) + (1 if kind == "amount" else 0), at)
        if kind == "twice":
            yield make(no, f"GW{i}-again", amount(i), at)
    for n in range(FAULTS):  # refunds we never sent
        yield make(f"X{size}-{n:06d}", f"GWX{n}", 777, start + timedelta(minutes=n))


def expected(size: int) -> dict[str, int]:
    """How many differences of each kind the size's bill must show."""
    return {str(EXPECTED[f]): FAULTS for f in EXPECTED}


# ---------------------------------------------------------------------------------------------
# the two ways


def product(app: Any, size: int) -> dict[str, int]:
    """The product's matching of the size's bill; the differences it recorded, by kind."""
    from sqlalchemy import func, select

    from portal.extensions import db
    from portal.models import ReconDifference
    from portal.plugins.channels import BillRow
    from portal.services.reconciliation import fetching

    with app.app_context():
        outcome = fetching.reconcile_fetched(channel_of(size), DAY, bill(size, BillRow))
        counts = dict(
            db.session.execute(
                select(ReconDifference.kind, func.count())
                .where(ReconDifference.run_id == outcome.run_id)
                .group_by(ReconDifference.kind)
            ).all()
        )
    return {str(k): int(v) for k, v in counts.items()}


def forget(app: Any, size: int) -> None:
    """Delete the size's run and differences (the audit events stay), so the next round
    finds them all new again."""
    from portal.extensions import db

    with app.app_context(), db.engine.begin() as conn:
        conn.exec_driver_sql(
            "DELETE FROM recon_differences WHERE run_id IN"
            " (SELECT id FROM recon_runs WHERE channel = %(ch)s)",
            {"ch": channel_of(size)},
        )
        conn.exec_driver_sql(
            "DELETE FROM recon_runs WHERE channel = %(ch)s", {"ch": channel_of(size)}
        )


FLOOR_SQL = """
WITH b AS (
  SELECT refund_no, count(*) AS n, min(amount_fen) AS amount FROM floor_bill GROUP BY refund_no
), p AS (
  SELECT idempotency_key, amount_fen FROM payouts
  WHERE channel = %(ch)s AND settled_at >= %(start)s AND settled_at < %(end)s
    AND state = ANY(%(moved)s)
), d AS MATERIALIZED (
  SELECT b.refund_no AS bill_no, b.n, p.idempotency_key AS our_no
  FROM b FULL JOIN p ON p.idempotency_key = b.refund_no
  WHERE b.refund_no IS NULL OR p.idempotency_key IS NULL OR b.n > 1 OR b.amount <> p.amount_fen
)
SELECT coalesce(d.bill_no, d.our_no),
  CASE WHEN d.bill_no IS NULL THEN 'missing_from_bill'
       WHEN d.n > 1 THEN 'duplicate'
       WHEN d.our_no IS NOT NULL THEN 'amount_differs'
       WHEN o.id IS NULL OR o.settled_at IS NULL OR NOT o.state = ANY(%(moved)s)
         THEN 'unknown_at_gateway'
       ELSE 'different_day' END
FROM d LEFT JOIN payouts o
  ON d.our_no IS NULL AND o.idempotency_key = d.bill_no AND o.channel = %(ch)s
"""


def floor(conn: Any, size: int) -> dict[str, int]:
    """The floor (see the module's docstring) on a raw psycopg connection; the differences
    it names, by kind."""
    start, end = day_bounds(DAY)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "CREATE TEMPORARY TABLE floor_bill (seq integer NOT NULL, refund_no varchar(64)"
            " NOT NULL, gateway_reference text NOT NULL, amount_fen bigint NOT NULL,"
            " at timestamptz NOT NULL) ON COMMIT DROP"
        )
        with cur.copy("COPY floor_bill FROM STDIN") as copy:
            for seq, row in enumerate(bill(size, lambda *r: r)):
                copy.write_row((seq, *row))
        cur.execute(
            FLOOR_SQL,
            {
                "ch": channel_of(size),
                "start": start,
                "end": end,
                "moved": [str(s) for s in payout_states.MONEY_MOVED],
            },
        )
        counts: dict[str, int] = {}
        for _no, kind in cur:
            counts[kind] = counts.get(kind, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------
# the run


@dataclass
class Run:
    """What one run measured."""

    args: dict[str, Any]
    load_start: tuple[float, float, float]
    seconds_to_load: float = 0.0
    product_s: dict[int, list[float]] = field(default_factory=dict)
    floor_s: dict[int, list[float]] = field(default_factory=dict)
    product_peak_mb: dict[int, float] = field(default_factory=dict)
    floor_peak_mb: dict[int, float] = field(default_factory=dict)
    found: dict[int, dict[str, int]] = field(default_factory=dict)
    floor_found: dict[int, dict[str, int]] = field(default_factory=dict)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        """Print a line and keep it for the results."""
        print(line, flush=True)
        self.lines.append(line)

    def median(self, which: dict[int, list[float]], size: int) -> float:
        """The median seconds of one way at one size."""
        return statistics.median(which[size])

    def speed(self, size: int) -> float:
        """The product's speed over the floor's at a size (1.0: as fast)."""
        return self.median(self.floor_s, size) / self.median(self.product_s, size)

    def flat(self) -> float:
        """The product's memory peak at the largest size over that at the smallest."""
        sizes = sorted(self.product_peak_mb)
        return self.product_peak_mb[sizes[-1]] / self.product_peak_mb[sizes[0]]

    def right(self, size: int) -> bool:
        """Whether both ways named exactly the faults put into the bill."""
        return self.found[size] == expected(size) == self.floor_found[size]


def _timed(work: Callable[[], dict[str, int]]) -> tuple[float, dict[str, int]]:
    started = time.perf_counter()
    found = work()
    return time.perf_counter() - started, found


def _peak(work: Callable[[], dict[str, int]]) -> tuple[float, dict[str, int]]:
    tracemalloc.start()
    try:
        found = work()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak / 1e6, found


def _measure(result: Run, app: Any, conn: Any, sizes: list[int], rounds: int) -> None:
    def way(name: str, size: int) -> Callable[[], dict[str, int]]:
        if name == "product":
            return lambda: product(app, size)
        return lambda: floor(conn, size)

    for size in sizes:
        result.product_s[size], result.floor_s[size] = [], []
    for r in range(rounds):
        for size in sizes:
            for name in ("product", "floor") if r % 2 == 0 else ("floor", "product"):
                forget(app, size)
                seconds, found = _timed(way(name, size))
                if name == "product":
                    result.product_s[size].append(seconds)
                    result.found[size] = found
                else:
                    result.floor_s[size].append(seconds)
                    result.floor_found[size] = found
                result.say(f"  round {r + 1} {size:>9,} rows  {name:<8}{seconds:8.2f} s")
    for size in sizes:
        forget(app, size)
        result.product_peak_mb[size], _ = _peak(way("product", size))
        result.floor_peak_mb[size], _ = _peak(way("floor", size))
        result.say(
            f"  tracemalloc {size:>9,} rows  product peak {result.product_peak_mb[size]:.1f} MB,"
            f" floor peak {result.floor_peak_mb[size]:.1f} MB"
        )


def _report(result: Run, sizes: list[int]) -> None:
    for size in sizes:
        result.say(
            f"  {size:>9,} rows: product {result.median(result.product_s, size):.2f} s"
            f" (median of {len(result.product_s[size])}), floor"
            f" {result.median(result.floor_s, size):.2f} s -> {result.speed(size):.2f} x the"
            f" floor's speed; {size / result.median(result.product_s, size):,.0f} rows/s;"
            f" differences {result.found[size]} ({'right' if result.right(size) else 'WRONG'})"
        )
    top = sizes[-1]
    result.say(
        f"  speed at {top:,} rows: {result.speed(top):.2f} x the floor (goal >= {SPEED_GOAL}):"
        f" {scale._verdict(result.speed(top) >= SPEED_GOAL)}"
    )
    if len(sizes) > 1:
        result.say(
            f"  memory peak {sizes[0]:,} -> {top:,} rows: {result.product_peak_mb[sizes[0]]:.1f}"
            f" -> {result.product_peak_mb[top]:.1f} MB, x{result.flat():.2f}"
            f" (goal <= {FLAT_GOAL}): {scale._verdict(result.flat() <= FLAT_GOAL)}"
        )


def run(args: argparse.Namespace) -> Run:
    """Load, measure, report; the figures (also written under ``bench/results``)."""
    import tempfile

    import psycopg
    from redis import Redis
    from sqlalchemy.engine import make_url

    from portal.extensions import db
    from portal.infra.embedded import start_embedded_redis, stop_embedded_redis
    from portal.infra.migrations import upgrade

    sizes = sorted(int(s) for s in args.sizes.split(","))
    if min(sizes) < 8 * FAULTS:
        raise SystemExit(f"every size must be at least {8 * FAULTS} rows")
    result = Run(args=vars(args), load_start=os.getloadavg())
    result.say(
        f"reconcile: bills of {', '.join(f'{s:,}' for s in sizes)} rows, {args.rounds} rounds;"
        f" load average {' '.join(f'{x:.2f}' for x in result.load_start)}"
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = Path(args.out) if args.out else RESULTS / f"reconcile-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    url = args.database_url or os.environ.get("PORTAL_DATABASE_URL") or DEFAULT_URL
    scale.create_database(url)
    now = datetime.now(UTC).replace(microsecond=0)
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="portal-recon-")))
        redis_url = args.redis_url or os.environ.get("PORTAL_REDIS_URL")
        if not redis_url:
            redis_url = start_embedded_redis(str(tmp))
            stack.callback(stop_embedded_redis)
        Redis.from_url(redis_url).flushdb()
        app = scale._app(url, redis_url, tmp)
        started = time.perf_counter()
        with app.app_context():
            with db.engine.begin() as conn:
                conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            upgrade()
            with db.engine.begin() as conn:
                scale.load(conn, 1, 1, now)
                for size in sizes:
                    load_payouts(conn, size, now)
                conn.exec_driver_sql("ANALYZE")
            db.engine.dispose()
        result.seconds_to_load = time.perf_counter() - started
        result.say(f"  loaded {sum(sizes):,} payouts in {result.seconds_to_load:.1f} s")
        u = make_url(url)
        raw = stack.enter_context(
            psycopg.connect(host=u.host, port=u.port or 5432, user=u.username, dbname=u.database)
        )
        _measure(result, app, raw, sizes, args.rounds)
    _report(result, sizes)
    result.load_end = os.getloadavg()
    result.say(
        f"  load average {' '.join(f'{x:.2f}' for x in result.load_end)} at end; figures in {out}"
    )
    (out / "output.txt").write_text("\n".join(result.lines) + "\n")
    (out / "figures.json").write_text(
        json.dumps(
            {
                **{k: v for k, v in result.__dict__.items() if k != "lines"},
                "command": " ".join(["python -m bench reconcile", *args.argv]),
                "speed": {s: result.speed(s) for s in sizes},
                "expected": {s: expected(s) for s in sizes},
            },
            indent=2,
            default=str,
        )
    )
    return result


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line (see the module's docstring)."""
    p = argparse.ArgumentParser(prog="python -m bench reconcile")
    p.add_argument("--sizes", default="100000,1000000", help="bill rows, comma-separated")
    p.add_argument("--rounds", type=int, default=3, help="timed rounds of each, interleaved")
    p.add_argument("--database-url", help="default: PORTAL_DATABASE_URL, else " + DEFAULT_URL)
    p.add_argument("--redis-url", help="default: PORTAL_REDIS_URL, else an embedded Redis")
    p.add_argument("--out", help="where the figures go (default bench/results/reconcile-<time>)")
    args = p.parse_args(argv)
    args.argv = list(argv)
    return args


def main(argv: list[str] | None = None) -> int:
    """``python -m bench reconcile``; non-zero when a goal is missed or a difference is
    wrong."""
    result = run(parse(argv or []))
    sizes = sorted(result.found)
    ok = all(result.right(s) for s in sizes) and result.speed(sizes[-1]) >= SPEED_GOAL
    return 0 if ok and (len(sizes) < 2 or result.flat() <= FLAT_GOAL) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
