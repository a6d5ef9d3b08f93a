"""Bringing a dujiaoka shop's orders in: ``refund-portal connect dujiaoka``'s work
(``order_sync.sync`` over the plugin's ``DujiaokaSource``, the path the minute job and the
backfill take) from MariaDB into PostgreSQL, next to the same rows read by a bare cursor
loop (the floor). Goal: the connector at >= 0.5x the floor.

``python -m bench connect [--orders N] [--segments K] [--sample S] [--mariadb URL] [--url URL]``:

1. **Shop**: a fresh database (``--shop-database``, ``dujiaoka_bench``) on the MariaDB server (``--mariadb``, root
   with an empty password by default), the tests' DDL (``testshop``), the gateways of
   dujiaoka's install SQL, twenty goods; then ``--orders`` + ``--sample`` orders in every
   state, written by multi-row INSERTs: Chinese titles, emoji in e-mails, codes one per
   line, zero-dates, three orders to each ``updated_at`` second, a few on an unmapped gateway.
2. **Portal**: a fresh PostgreSQL database (``--url``, ``PORTAL_DATABASE_URL`` or
   ``DEFAULT_URL``; its ``public`` schema emptied) migrated by the project's migrations, one
   merchant, the connector's settings.
3. **Interleaved**: the orders cut in ``--segments`` equal parts, in reading order; for each,
   the floor first (the source's own statement for the whole part on one connection of the
   source's engine, an unbuffered DBAPI cursor, a bare ``for row in cursor`` loop), then the
   connector takes the same rows in, in batches of ``--batch`` (``sync`` reads a part by one
   streamed query, as the floor does). Process RSS and the process's CPU seconds after each
   part. The time spent in the source (reading and mapping, ``fetch`` or ``stream``: on the
   sync's reader thread, alongside the taking in) is kept apart. Statements are SQLAlchemy's as its
   engine events see them: a batch's bulk ``COPY``s (``portal.services.bulk_rows``) are not
   among them.
4. **Argon2**: the parts above run with the portal's Argon2 cost reduced as the other
   benches run it (``bench.stack``: t=1, m=1024 KiB); the ``--sample`` orders after them are
   taken in at the portal's configured production cost, and reported on their own. (The
   connector makes no hash on the way in any more: the query password stays in the shop.)

``--profile`` keeps a cProfile of the connector's passes (top functions in
``profile.txt``). The load average is printed at the start and end; figures are written
under ``bench/results/connect-<UTC time>/``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.scale import create_database

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/refund_portal_connect_bench"
SHOP_DATABASE = "dujiaoka_bench"
RESULTS = Path(__file__).resolve().parent / "results"
GOAL_RATIO = 0.5
MERCHANT = "djkbench"
#: the Argon2 cost the other benches run with (bench.stack.bench_app)
REDUCED_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024}
#: rows per multi-row INSERT while filling the shop
INSERT_ROWS = 5000
ORDER_COLUMNS = (
    "id",
    "order_sn",
    "goods_id",
    "title",
    "type",
    "goods_price",
    "buy_amount",
    "total_price",
    "actual_price",
    "search_pwd",
    "email",
    "info",
    "pay_id",
    "buy_ip",
    "trade_no",
    "status",
    "created_at",
    "updated_at",
)
GOODS_NAMES = (
    "腾讯视频VIP月卡",
    "爱奇艺黄金会员",
    "网易云音乐年卡",
    "Steam 充值卡 ¥100",
    "QQ音乐绿钻",
)


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench connect")
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--segments", type=int, default=10, help="interleaved parts (memory points)")
    p.add_argument("--sample", type=int, default=1000, help="orders at the production cost")
    p.add_argument("--batch", type=int, default=500, help="rows per connector transaction")
    p.add_argument("--mariadb", default=None, help="server URL (default: the tests' server)")
    p.add_argument("--shop-database", default=SHOP_DATABASE, help="made anew on that server")
    p.add_argument("--url", default=os.environ.get("PORTAL_DATABASE_URL") or DEFAULT_URL)
    p.add_argument("--redis-url", default=os.environ.get("PORTAL_REDIS_URL"))
    p.add_argument("--profile", action="store_true", help="cProfile the connector's passes")
    p.add_argument(
        "--reads-only",
        action="store_true",
        help="no portal: the source's reads (as the sync reads them) next to the floor",
    )
    p.add_argument("--reuse-shop", action="store_true", help="the shop database as it is")
    p.add_argument("--out", default=None, help="folder for the figures (default: results/)")
    args = p.parse_args(argv)
    if args.orders % (args.segments * args.batch):
        p.error("--orders must be a multiple of --segments x --batch")
    return args


# --- the shop ---


def order_row(i: int, base: datetime) -> tuple[Any, ...]:
    """Order ``i`` of the generated shop (1-based), every state in a fixed mix."""
    kind = i % 100
    goods_id = 3 + i % 18
    manual = kind in (97, 98)
    if manual:
        goods_id = 2
    if kind < 20:
        status = -1
    elif kind < 25:
        status = 1
    elif kind < 75 or kind >= 97:
        status = 4
    elif kind < 85:
        status = 2
    elif kind < 90:
        status = 3
    elif kind < 94:
        status = 5
    else:
        status = 6
    amount = 1 + i % 2
    price = f"{10 + i % 50}.{i % 100:02d}"
    total = f"{(10 + i % 50) * amount + (i % 100) * amount // 100}.{(i % 100) * amount % 100:02d}"
    info = ""
    if status == 4 and not manual:
        info = "\n".join(f"CARD-{i:09d}-{n}" for n in range(amount))
    elif manual:
        info = "QQ号: 123456"
    elif status == 6:
        info = "库存不足"
    pay_id = 17 if i % 1000 == 999 else (1 if i % 3 else 8)
    updated = base + timedelta(seconds=i // 3)
    created = "0000-00-00 00:00:00" if i % 500 == 7 else f"{updated - timedelta(seconds=90):%F %T}"
    email = f"buyer{i}😀@example.com" if i % 7 == 0 else f"buyer{i}@example.com"
    return (
        i,
        f"DJK{i:013d}",
        goods_id,
        f"{GOODS_NAMES[goods_id % len(GOODS_NAMES)]} x {amount}",
        2 if manual else 1,
        price,
        amount,
        total,
        total,
        f"pw{i % 99991}",
        email,
        info,
        pay_id,
        "127.0.0.1",
        f"2026{i:016d}",
        status,
        created,
        f"{updated:%F %T}",
    )


def taken_in(count: int) -> int:
    """How many of the first ``count`` generated orders the portal takes in: the paid ones,
    less those on the gateway no setting maps."""
    return sum(1 for i in range(1, count + 1) if i % 100 >= 25 and i % 1000 != 999)


def fill_shop(url: str, count: int) -> float:
    """The tables, goods and ``count`` orders; seconds taken."""
    from refund_portal_dujiaoka.testshop import TestShop

    started = time.perf_counter()
    shop = TestShop(url).setup()
    for goods_id in range(3, 21):
        shop.insert(
            "goods",
            id=goods_id,
            group_id=1,
            gd_name=GOODS_NAMES[goods_id % len(GOODS_NAMES)],
            gd_description="自动发货，卡密一行一个",
            gd_keywords="",
            actual_price=f"{goods_id}.90",
        )
    base = datetime(2025, 1, 1, 8, 0, 0)
    sql = f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({', '.join(['%s'] * 18)})"
    raw = shop.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("SET SESSION sql_mode = ''")  # zero-dates, as older shops have them
        for first in range(1, count + 1, INSERT_ROWS):
            last = min(first + INSERT_ROWS, count + 1)
            # PyMySQL sends one multi-row INSERT per call for an INSERT ... VALUES statement
            cur.executemany(sql, [order_row(i, base) for i in range(first, last)])
            raw.commit()
        cur.execute("ANALYZE TABLE orders")
        cur.fetchall()
    finally:
        raw.close()
        shop.engine.dispose()
    return time.perf_counter() - started


def floor(engine: Any, after: Any, count: int) -> float:
    """Seconds to read the ``count`` rows after ``after`` with the source's own statement,
    a bare loop over an unbuffered cursor of one connection of the source's engine."""
    import pymysql.cursors
    from refund_portal_dujiaoka.source import orders_after

    compiled = orders_after(after, count).compile(dialect=engine.dialect)
    raw = engine.raw_connection()
    try:
        started = time.perf_counter()
        cur = raw.driver_connection.cursor(pymysql.cursors.SSCursor)
        cur.execute(str(compiled), compiled.params)
        n = 0
        for _row in cur:
            n += 1
        cur.close()
        took = time.perf_counter() - started
    finally:
        raw.close()
    assert n == count, f"floor read {n} rows, expected {count}"
    return took


# --- the portal ---


def _app(args: argparse.Namespace, shop_url: str) -> Any:
    from portal import create_app

    config: dict[str, Any] = {
        "SECRET_KEY": "bench-connect-secret-key-not-for-production-0123456789",
        "DATABASE_URL": args.url,
        "DUJIAOKA_DATABASE_URL": shop_url,
        "DUJIAOKA_MERCHANT": MERCHANT,
        # the one payout channel that loads without accounts; the gateways' payments are
        # taken in as they would be for alipay/wechat
        "DUJIAOKA_GATEWAYS": "zfbf2f=bank,wescan=bank",
    }
    if args.redis_url:
        config["REDIS_URL"] = args.redis_url
    return create_app(config)


class TimedSource:
    """The source as the sync sees it, with the time spent in ``fetch`` kept."""

    def __init__(self, src: Any) -> None:
        self.src = src
        self.id, self.merchant = src.id, src.merchant
        self.fetch_seconds = 0.0

    def check(self) -> None:
        self.src.check()

    def fetch(self, after: Any, limit: int) -> Any:
        started = time.perf_counter()
        try:
            return self.src.fetch(after, limit)
        finally:
            self.fetch_seconds += time.perf_counter() - started

    def stream(self, after: Any, limit: int | None) -> Any:
        rows = self.src.stream(after, limit)
        try:
            while True:
                started = time.perf_counter()
                try:
                    row = next(rows)
                except StopIteration:
                    return
                finally:
                    self.fetch_seconds += time.perf_counter() - started
                yield row
        finally:
            rows.close()

    def remaining(self, after: Any) -> int:
        return int(self.src.remaining(after))


def rss_mib() -> float:
    """The process's resident memory now, MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def connector(app: Any, src: TimedSource, rows: int, batch: int, prof: Any) -> dict[str, Any]:
    """Take ``rows`` rows in through ``order_sync.sync``; seconds and outcome counts."""
    from sqlalchemy import event

    from portal.extensions import db
    from portal.services.integration import order_sync

    statements = [0]

    def count(*_args: Any) -> None:
        statements[0] += 1

    event.listen(db.engine, "before_cursor_execute", count)
    fetch_before = src.fetch_seconds
    cpu = time.process_time()
    started = time.perf_counter()
    if prof is not None:
        prof.enable()
    try:
        result = order_sync.sync(src, limit=batch, max_batches=rows // batch)  # type: ignore[arg-type]
    finally:
        if prof is not None:
            prof.disable()
    took = time.perf_counter() - started
    cpu = time.process_time() - cpu
    event.remove(db.engine, "before_cursor_execute", count)
    assert result.read == rows, f"connector read {result.read} rows, expected {rows}"
    return {
        "seconds": took,
        "cpu_seconds": round(cpu, 3),
        "fetch_seconds": src.fetch_seconds - fetch_before,
        "created": result.created,
        "delivered": result.delivered,
        "unpaid": result.unpaid,
        "problems": result.problems,
        "statements": statements[0],
    }


def reads_only(
    args: argparse.Namespace,
    shop_url: str,
    fill: float,
    load_start: tuple[float, ...],
    argv: list[str],
) -> int:
    """The source's side alone: per part, the floor, then the same rows through the source's
    ``fetch`` (reading and mapping) in blocks of ``order_sync.READ_AHEAD`` as ``sync`` reads
    them; a few reads of one batch (``--batch`` rows) timed at the start and the middle."""
    from zoneinfo import ZoneInfo

    from refund_portal_dujiaoka.mapping import parse_gateways, position_text
    from refund_portal_dujiaoka.source import DujiaokaSource, make_engine

    from portal.plugins.order_sources import SourcePosition
    from portal.services.integration.order_sync import READ_AHEAD

    gateways = parse_gateways("zfbf2f=bank,wescan=bank")
    src = DujiaokaSource("dujiaoka", MERCHANT, make_engine(shop_url), gateways, ZoneInfo("UTC"))
    per = args.orders // args.segments
    parts: list[dict[str, Any]] = []
    after = None
    for n in range(args.segments):
        floor_s = floor(src.engine, after, per)
        started, done = time.perf_counter(), 0
        while done < per:
            rows = src.fetch(after, min(READ_AHEAD, per - done))
            done += len(rows)
            after = rows[-1].position
        took = time.perf_counter() - started
        parts.append(
            {
                "rows_done": per * (n + 1),
                "floor_rows_per_s": round(per / floor_s),
                "read_rows_per_s": round(per / took),
                "ratio": round(floor_s / took, 3),
                "rss_mib": rss_mib(),
                "load": round(os.getloadavg()[0], 2),
            }
        )
        print(f"part {n + 1}/{args.segments}: {parts[-1]}", flush=True)
    single = []
    with src.engine.connect() as conn:
        updated, row_id = conn.exec_driver_sql(
            "SELECT updated_at, id FROM orders ORDER BY updated_at, id LIMIT 1 OFFSET %s",
            (args.orders // 2,),
        ).one()
    for at in (None, SourcePosition(position_text(updated), int(row_id))):
        for _ in range(3):
            started = time.perf_counter()
            src.fetch(at, args.batch)
            single.append(round(time.perf_counter() - started, 3))
    figures = {
        "args": vars(args),
        "fill_s": fill,
        "read_ahead": READ_AHEAD,
        "parts": parts,
        "one_batch_read_s": single,
        "load_start": load_start,
        "load_end": os.getloadavg(),
    }
    out = (
        Path(args.out)
        if args.out
        else RESULTS / f"connect-reads-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    (out / "command.txt").write_text(" ".join(["python -m bench connect", *argv]))
    print(f"one read of {args.batch} rows: {single} s; figures in {out}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench connect``; 0 if the connector reaches the goal against the floor."""
    args = parse(argv or [])
    load_start = os.getloadavg()
    print(
        f"connect: {args.orders} dujiaoka orders (+{args.sample} at the production Argon2"
        f" cost), {args.segments} parts; load average {load_start[0]:.2f}",
        flush=True,
    )
    from refund_portal_dujiaoka import testshop
    from sqlalchemy import func, make_url, select

    from portal.extensions import db
    from portal.infra.migrations import upgrade
    from portal.models import Merchant, Order
    from portal.services.integration import order_sync

    if args.mariadb:
        testshop.MARIADB_URL = args.mariadb
    if args.reuse_shop:
        shop_url = (
            make_url(testshop.MARIADB_URL)
            .set(database=args.shop_database)
            .render_as_string(hide_password=False)
        )
        fill = 0.0
    else:
        shop_url = testshop.mariadb_database(args.shop_database)
        fill = fill_shop(shop_url, args.orders + args.sample)
        print(f"shop filled: {args.orders + args.sample} orders in {fill:.1f} s", flush=True)
    if args.reads_only:
        return reads_only(args, shop_url, fill, load_start, argv or [])
    create_database(args.url)
    app = _app(args, shop_url)
    figures: dict[str, Any] = {"args": vars(args), "goal_ratio": GOAL_RATIO, "fill_s": fill}
    parts: list[dict[str, Any]] = []
    prof = cProfile.Profile() if args.profile else None
    with app.app_context():
        with db.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        upgrade()
        db.session.add(Merchant(slug=MERCHANT, name="独角数卡小店"))
        db.session.commit()
        production = {k: app.config[k] for k in REDUCED_ARGON2}
        app.config.update(REDUCED_ARGON2)
        src = TimedSource(order_sync.source("dujiaoka"))
        src.check()
        engine = src.src.engine
        per = args.orders // args.segments
        figures["rss_mib_start"] = rss_mib()
        for n in range(args.segments):
            start = order_sync.position(src.id)
            db.session.commit()
            floor_s = floor(engine, start, per)
            took = connector(app, src, per, args.batch, prof)
            part = {
                "rows_done": per * (n + 1),
                "floor_rows_per_s": round(per / floor_s),
                "connector_rows_per_s": round(per / took["seconds"]),
                "ratio": round(floor_s / took["seconds"], 4),
                "fetch_share": round(took["fetch_seconds"] / took["seconds"], 3),
                "statements_per_new_order": round(took["statements"] / max(1, took["created"]), 3),
                "rss_mib": rss_mib(),
                "load": round(os.getloadavg()[0], 2),
                **{k: v for k, v in took.items() if k not in ("seconds", "fetch_seconds")},
            }
            parts.append(part)
            print(
                f"part {n + 1}/{args.segments}: {part['rows_done']} rows; floor"
                f" {part['floor_rows_per_s']} rows/s, connector {part['connector_rows_per_s']}"
                f" rows/s (ratio {part['ratio']}, {part['fetch_share']:.0%} of it reading and"
                f" mapping); {part['statements_per_new_order']} statements a new order;"
                f" connector CPU {part['cpu_seconds']} s (floor wall {floor_s:.2f} s);"
                f" RSS {part['rss_mib']} MiB; load {part['load']}",
                flush=True,
            )
        floor_total = sum(args.orders // args.segments / p["floor_rows_per_s"] for p in parts)
        conn_total = sum(args.orders // args.segments / p["connector_rows_per_s"] for p in parts)
        figures["floor_rows_per_s"] = round(args.orders / floor_total)
        figures["connector_rows_per_s"] = round(args.orders / conn_total)
        figures["ratio"] = round(floor_total / conn_total, 4)
        figures["parts"] = parts
        if args.sample:
            app.config.update(production)
            start = order_sync.position(src.id)
            db.session.commit()
            floor_s = floor(engine, start, args.sample)
            sample_prof = cProfile.Profile() if args.profile else None
            took = connector(app, src, args.sample, min(args.batch, args.sample), sample_prof)
            figures["production_argon2"] = {
                "cost": production,
                "floor_rows_per_s": round(args.sample / floor_s),
                "connector_rows_per_s": round(args.sample / took["seconds"], 1),
                "ratio": round(floor_s / took["seconds"], 5),
                "created": took["created"],
            }
            print(f"production Argon2 cost {production}: {figures['production_argon2']}")
        stored = db.session.scalar(select(func.count()).select_from(Order))
        db.session.commit()
        figures["orders_stored"] = stored
    figures["load_start"] = load_start
    figures["load_end"] = os.getloadavg()
    out = Path(args.out) if args.out else RESULTS / f"connect-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "figures.json").write_text(json.dumps(figures, indent=1, ensure_ascii=False))
    (out / "command.txt").write_text(" ".join(["python -m bench connect", *(argv or [])]))
    if prof is not None:
        text = io.StringIO()
        pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(45)
        text.write("\n\n=== by own time ===\n")
        pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(30)
        if args.sample and sample_prof is not None:
            text.write("\n\n=== the production-cost sample ===\n")
            pstats.Stats(sample_prof, stream=text).sort_stats("tottime").print_stats(20)
        (out / "profile.txt").write_text(text.getvalue())
        prof.dump_stats(out / "profile.pstats")
    ratio = figures["ratio"]
    print(
        f"connector {figures['connector_rows_per_s']} orders/s, floor"
        f" {figures['floor_rows_per_s']} rows/s: ratio {ratio} (goal >= {GOAL_RATIO});"
        f" RSS {[p['rss_mib'] for p in parts]} MiB; {stored} orders stored;"
        f" load average {os.getloadavg()[0]:.2f}; figures in {out}",
        flush=True,
    )
    return 0 if ratio >= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
