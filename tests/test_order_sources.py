"""Order sources, with the dujiaoka connector: orders read from a shop's own database come in
as the ingest API brings them in, once each, with problems kept per row, against SQLite (our
DDL of dujiaoka's tables) and against MariaDB when the machine has one."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime

import pytest
from refund_portal_dujiaoka import testshop
from refund_portal_dujiaoka.plugin import register_order_sources, register_settings
from sqlalchemy import create_engine, func, select, text, update

from portal.domain.order_sources import SourceOrderState
from portal.extensions import db
from portal.models import CardCode, Event, ListingSnapshot, Order, OrderSourceCursor, Payment
from portal.plugins.order_sources import OrderSourceError, SourcePosition
from portal.plugins.settings import PluginSettings
from portal.services.errors import ConcurrentChange
from portal.services.integration import ingest_batch, order_sync, orders
from tests import factories as f

SETTINGS = {
    "DUJIAOKA_MERCHANT": "djk",
    "DUJIAOKA_GATEWAYS": "zfbf2f=fakepay,wescan=fakepay",
}


def mariadb_url(suffix: str = "") -> str:
    """A MariaDB database of this test process's own (``suffix`` tells a test file's apart),
    or the test skipped when the server cannot be reached."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    name = testshop.TEST_DATABASE + suffix + (f"_{worker}" if worker else "")
    try:
        return testshop.mariadb_database(name)
    except ImportError:
        pytest.skip("pymysql is not installed (pip install 'refund-portal-dujiaoka[test]')")
    except Exception as exc:  # noqa: BLE001 (any failure to reach the server)
        pytest.skip(f"MariaDB at {testshop.MARIADB_URL} not reachable: {type(exc).__name__}")


@pytest.fixture(params=["sqlite", "mariadb"])
def shop(request, app, tmp_path):
    url = f"sqlite:///{tmp_path}/dujiaoka.sqlite3" if request.param == "sqlite" else mariadb_url()
    s = testshop.TestShop(url).setup()
    s.kind = request.param
    app.config.update(SETTINGS, DUJIAOKA_DATABASE_URL=url)
    f.merchant("djk")
    db.session.commit()
    yield s
    s.engine.dispose()


def source():
    return order_sync.source("dujiaoka")


def count(model=Order) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def problems() -> dict[str, tuple[str, dict]]:
    return {p.order_no: (p.problem, p.detail) for p in order_sync.problems("dujiaoka")}


# --- the hook ---


def test_hook_register_order_sources(shop):
    declared = [s.name for s in register_settings()]
    settings = PluginSettings({**SETTINGS, "DUJIAOKA_DATABASE_URL": shop.url}, declared)
    (src,) = register_order_sources(settings)
    assert (src.id, src.merchant) == ("dujiaoka", "djk")
    assert register_order_sources(PluginSettings({}, declared)) == []
    assert [s.id for s in order_sync.sources()] == ["dujiaoka"]


def test_a_source_without_its_merchant_is_refused(shop, app):
    app.config["DUJIAOKA_MERCHANT"] = ""
    with pytest.raises(OrderSourceError, match="DUJIAOKA_MERCHANT"):
        order_sync.sources()


# --- hostile rows first ---


def test_rows_the_mapping_refuses_are_kept_per_order_and_the_rest_come_in(shop):
    shop.order(order_sn="STATUS9", status=9)
    shop.order(order_sn="PAYPAL", pay_id=17)
    shop.order(order_sn="NOPAY", pay_id=99)
    shop.order(order_sn="NOPWD", search_pwd="")
    shop.order(order_sn="SHORTPWD", search_pwd="12")
    shop.order(order_sn="NOTRADE", trade_no="")
    shop.order(order_sn="BAD/NO")
    shop.order(order_sn="GOOD1")
    result = order_sync.sync(source(), limit=3)
    assert (result.read, result.created, result.problems) == (8, 1, 7)
    found = problems()
    assert found["STATUS9"] == ("unknown_status", {"row_id": "1", "status": "9"})
    assert found["PAYPAL"][0] == "unknown_gateway"
    assert found["PAYPAL"][1]["pay_check"] == "paypal"
    assert found["NOPAY"][1]["pay_id"] == "99"
    assert found["NOPWD"][0] == "no_query_password"
    assert found["SHORTPWD"] == (
        "invalid",
        {"field": "query_password", "message": found["SHORTPWD"][1]["message"]},
    )
    assert found["NOTRADE"][1]["field"] == "payment.gateway_trade_id"
    assert found["BAD/NO"][1]["field"] == "order_no"
    assert db.session.scalars(select(Order.order_no)).all() == ["GOOD1"]
    # the cursor moved past them: they are reported, not read again and again
    assert order_sync.sync(source()).read == 0


def test_a_gateway_mapped_later_is_taken_in_by_a_backfill_and_its_problem_goes(shop, app):
    shop.order(order_sn="YIPAY", pay_id=14)
    order_sync.sync(source())
    assert problems()["YIPAY"][0] == "unknown_gateway"
    app.config["DUJIAOKA_GATEWAYS"] = "zfbf2f=fakepay,alipay=fakepay"
    order_sync.restart("dujiaoka")
    assert order_sync.sync(source()).created == 1
    assert problems() == {}


def test_zero_dates_and_nulls_are_read_not_crashed_on(shop):
    shop.order(order_sn="ZEROBOTH", created_at="0000-00-00 00:00:00", updated_at=None)
    shop.order(order_sn="ZEROCREATED", created_at="0000-00-00 00:00:00")
    shop.order(order_sn="NULLUPDATED", updated_at=None)
    shop.order(order_sn="ZEROUPDATED1", updated_at="0000-00-00 00:00:00")
    shop.order(order_sn="ZEROUPDATED2", updated_at="0000-00-00 00:00:00")
    result = order_sync.sync(source(), limit=1)
    assert result.read == 5
    assert problems() == {"ZEROBOTH": ("bad_time", {"row_id": "1", "column": "created_at"})}
    got = db.session.scalar(select(Order).where(Order.order_no == "ZEROCREATED"))
    assert got.paid_at == datetime(2026, 12, 1, 2, 0, 5, tzinfo=UTC)  # updated_at, China time
    assert count() == 4
    assert order_sync.sync(source(), limit=1).read == 0


def test_text_that_is_not_utf8_is_named_not_fatal(shop):
    if shop.kind != "sqlite":
        pytest.skip("MariaDB converts on insert; the bytes case is SQLite's (a damaged dump)")
    shop.order(order_sn="GOOD1")
    shop.order(order_sn="LATIN1")
    with shop.engine.begin() as conn:
        conn.execute(text("UPDATE orders SET email = CAST(X'e9e8' AS TEXT) WHERE id = 2"))
    result = order_sync.sync(source())
    assert (result.created, result.problems) == (1, 1)
    assert problems()["LATIN1"] == ("bad_text", {"row_id": "2", "column": "email"})


def test_amounts_that_are_not_yuan_are_refused(shop):
    if shop.kind != "sqlite":
        pytest.skip("decimal(10,2) on MariaDB cannot hold them")
    shop.order(order_sn="TEXTPRICE", actual_price="abc")
    shop.order(order_sn="THIRDS", actual_price="1.005")
    order_sync.sync(source())
    assert {k: v[0] for k, v in problems().items()} == {
        "TEXTPRICE": "bad_amount",
        "THIRDS": "bad_amount",
    }


def test_unpaid_and_expired_orders_are_not_taken_in_until_paid(shop):
    shop.order(order_sn="WAIT", status=1)
    shop.order(order_sn="EXPIRED", status=-1)
    result = order_sync.sync(source())
    assert (result.unpaid, count(), problems()) == (2, 0, {})
    shop.update(1, status=2, updated_at="2026-12-01 10:03:00")
    assert order_sync.sync(source()).created == 1


# --- the cursor ---


def test_rows_sharing_a_timestamp_across_batch_boundaries_come_in_once_each(shop):
    for n in range(7):
        shop.order(order_sn=f"SAME{n}", updated_at="2026-12-01 10:00:05")
    result = order_sync.sync(source(), limit=2)
    assert (result.read, result.created) == (7, 7)
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:05", 7)
    # a row the shop commits late with the same second but a higher id is not skipped
    shop.order(order_sn="LATE", updated_at="2026-12-01 10:00:05")
    assert order_sync.sync(source(), limit=2).created == 1
    assert count() == 8
    assert count(Payment) == 8 and count(ListingSnapshot) == 8


def test_a_crash_between_batches_leaves_the_cursor_at_the_last_commit(shop, monkeypatch):
    for n in range(6):
        shop.order(order_sn=f"C{n}", updated_at=f"2026-12-01 10:00:0{n}")
    real = ingest_batch.add_orders
    calls = []

    def crash_on_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(ingest_batch, "add_orders", crash_on_second_batch)
    with pytest.raises(RuntimeError, match="worker killed"):  # the streamed read stops there
        order_sync.sync(source(), limit=3)
    assert sorted(db.session.scalars(select(Order.order_no))) == ["C0", "C1", "C2"]
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:02", 3)
    monkeypatch.setattr(ingest_batch, "add_orders", real)
    assert order_sync.sync(source(), limit=3).created == 3
    assert count() == 6


def test_rows_are_read_many_batches_at_once_and_committed_a_batch_at_a_time(shop, monkeypatch):
    # dujiaoka has no index on updated_at: each read scans the table, so reads are few
    for n in range(7):
        shop.order(order_sn=f"R{n}", updated_at=f"2026-12-01 10:00:0{n}")
    src = source()
    limits = []
    real = src.fetch

    def fetch(after, limit):
        limits.append(limit)
        return real(after, limit)

    monkeypatch.setattr(src, "fetch", fetch)
    monkeypatch.setattr(src, "stream", None)  # a source that only fetches
    monkeypatch.setattr(order_sync, "READ_AHEAD", 6)
    seen = []
    result = order_sync.sync(src, limit=2, progress=lambda r: seen.append(r.read))
    assert limits == [6, 6]  # six rows in one read, then the last one
    assert seen == [2, 4, 6, 7]  # a commit (and the bar) per batch of two
    assert (result.read, result.created, result.done) == (7, 7, True)
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:06", 7)
    shop.update(1, updated_at="2026-12-01 10:00:09", status=4, info="CODE-1")
    limits.clear()
    # a job's bound on batches bounds the read too
    assert order_sync.sync(src, limit=2, max_batches=1).delivered == 1
    assert limits == [2]


def test_a_streaming_source_is_read_by_one_query_a_run_as_batches_commit(shop, monkeypatch):
    for n in range(7):
        shop.order(order_sn=f"S{n}", updated_at=f"2026-12-01 10:00:0{n}")
    src = source()
    assert list(src.stream(None, None)) == list(src.fetch(None, 100))
    limits = []
    real = src.stream

    def stream(after, limit):
        limits.append((after, limit))
        return real(after, limit)

    monkeypatch.setattr(src, "stream", stream)
    seen = []
    result = order_sync.sync(src, limit=2, progress=lambda r: seen.append(r.read))
    assert limits == [(None, None)]  # a backfill: one read of all the rows after the position
    assert seen == [2, 4, 6, 7]  # a commit (and the bar) per batch of two
    assert (result.read, result.created, result.done) == (7, 7, True)
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:06", 7)
    shop.update(1, updated_at="2026-12-01 10:00:09", status=4, info="CODE-1")
    limits.clear()
    # a job's bound on batches bounds the read
    result = order_sync.sync(src, limit=2, max_batches=3)
    assert (result.delivered, result.done) == (1, True)
    assert limits == [(SourcePosition("2026-12-01 10:00:06", 7), 6)]


def _one_a_second(shop, prefix: str, n: int) -> None:
    """``n`` orders, ``prefix`` + 0.., a second apart from 10:00:00."""
    for i in range(n):
        shop.order(order_sn=f"{prefix}{i}", updated_at=f"2026-12-01 10:00:0{i}")


def test_a_streamed_read_that_fails_mid_way_keeps_the_batches_before_it(shop):
    _one_a_second(shop, "L", 5)
    src = source()
    real = src.stream

    def stream_losing_the_connection(after, limit):
        rows = real(after, limit)
        for n, row in enumerate(rows):
            if n == 3:
                rows.close()
                raise OrderSourceError("dujiaoka: reading orders failed: connection lost")
            yield row

    src.stream = stream_losing_the_connection
    with pytest.raises(OrderSourceError, match="connection lost"):
        order_sync.sync(src, limit=2)
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:01", 2)
    assert count() == 2
    src.stream = real
    assert order_sync.sync(src, limit=2).created == 3


def test_streamed_rows_out_of_order_stop_the_batch_they_are_in(shop):
    _one_a_second(shop, "Q", 4)
    src = source()
    real = src.stream

    def second_batch_reversed(after, limit):
        rows = list(real(after, limit))
        return iter([*rows[:2], *reversed(rows[2:])])

    src.stream = second_batch_reversed
    with pytest.raises(OrderSourceError, match="is not after"):
        order_sync.sync(src, limit=2)
    assert count() == 2
    assert order_sync.position("dujiaoka") == SourcePosition("2026-12-01 10:00:01", 2)


def _another_worker_moves_the_cursor(app) -> None:
    """What a second worker's commit of the first batch leaves: the cursor, moved."""
    other = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    with other.begin() as conn:
        conn.execute(
            OrderSourceCursor.__table__.insert().values(
                source_id="dujiaoka",
                after_updated="2026-12-01 10:00:05",
                after_row_id=1,
                started=True,
                moved_at=datetime.now(UTC),
            )
        )
    other.dispose()


def test_of_two_streaming_readers_one_commits_and_the_other_rolls_back(shop, app):
    shop.order(order_sn="R1")
    src = source()
    real = src.stream

    def stream_while_another_worker_moves_the_cursor(after, limit):
        rows = list(real(after, limit))
        _another_worker_moves_the_cursor(app)
        return iter(rows)

    src.stream = stream_while_another_worker_moves_the_cursor
    with pytest.raises(ConcurrentChange):
        order_sync.sync(src)
    assert count() == 0


def test_a_product_seen_twice_in_a_batch_ends_as_its_later_order_says(shop):
    # goods 99 is gone from the shop: the product comes from each order's own title and price
    shop.order(order_sn="P1", goods_id=99, title="旧标题 x 1", goods_price="5.00")
    shop.order(order_sn="P2", goods_id=1, updated_at="2026-12-01 10:00:06")
    shop.order(
        order_sn="P3",
        goods_id=99,
        title="新标题 x 1",
        goods_price="6.00",
        updated_at="2026-12-01 10:00:07",
    )
    assert order_sync.sync(source(), limit=10).created == 3
    products = {o.order_no: o.product for o in db.session.scalars(select(Order))}
    assert products["P1"] is products["P3"]
    assert (products["P3"].title, products["P3"].price_fen) == ("新标题 x 1", 600)
    assert products["P2"].title == "腾讯视频VIP月卡"


def test_one_number_twice_in_a_batch_is_one_order_delivered_once(shop, monkeypatch):
    # dujiaoka's order_sn is unique; another source's rows may repeat a number in one read
    shop.order(order_sn="TWICE")
    shop.order(order_sn="OTHER", updated_at="2026-12-01 10:00:06")
    src = source()
    real = src.fetch

    def fetch(after, limit):
        rows = list(real(after, limit))
        if not rows:
            return rows
        first = rows[0]
        again = dataclasses.replace(
            first,
            position=SourcePosition("2026-12-01 10:00:09", 9),
            state=SourceOrderState.DELIVERED,
            delivered_at=datetime(2026, 12, 1, 2, 0, 9, tzinfo=UTC),
            codes=("CODE-A", "CODE-B"),
        )
        return [*rows, again]

    monkeypatch.setattr(src, "fetch", fetch)
    monkeypatch.setattr(src, "stream", None)  # a source that only fetches
    result = order_sync.sync(src, limit=10, max_batches=1)
    assert (result.created, result.delivered, result.read) == (2, 1, 3)
    order = orders.lookup("TWICE", "buyer😀@example.com", "pw1234")
    assert sorted(c.code for c in order.codes) == ["CODE-A", "CODE-B"]
    kinds = db.session.scalars(
        select(Event.kind).where(Event.order_id == order.id).order_by(Event.chain_seq)
    ).all()
    assert kinds == ["order_received", "delivered", "query_password_kept"]


def test_running_twice_and_a_backfill_take_nothing_twice(shop):
    for n in range(5):
        shop.order(order_sn=f"T{n}")
    assert order_sync.sync(source(), limit=2).created == 5
    assert order_sync.sync(source(), limit=2).read == 0
    order_sync.restart("dujiaoka")
    again = order_sync.sync(source(), limit=2)
    assert (again.read, again.created, again.unchanged) == (5, 0, 5)
    assert count() == 5
    received = select(func.count()).where(Event.kind == "order_received")
    assert db.session.scalar(received) == 5


def test_of_two_readers_of_one_batch_one_commits_and_the_other_rolls_back(shop, app):
    shop.order(order_sn="R1")
    src = source()
    real_fetch = src.fetch

    def fetch_while_another_worker_moves_the_cursor(after, limit):
        rows = real_fetch(after, limit)
        _another_worker_moves_the_cursor(app)
        return rows

    src.fetch = fetch_while_another_worker_moves_the_cursor
    src.stream = None  # a source that only fetches (the streamed read: below)
    with pytest.raises(ConcurrentChange):
        order_sync.sync_batch(src)
    assert count() == 0
    # and once a cursor exists, the compare-and-set on it refuses a stale start
    db.session.execute(update(OrderSourceCursor).values(after_row_id=0))
    db.session.commit()
    with pytest.raises(ConcurrentChange):
        order_sync._move(
            "dujiaoka", SourcePosition("2026-12-01 10:00:05", 1), SourcePosition("x", 2)
        )
    db.session.rollback()


def test_rows_out_of_order_from_a_source_are_refused_whole(shop):
    shop.order(order_sn="O1")
    shop.order(order_sn="O2")
    src = source()
    real_fetch = src.fetch
    src.fetch = lambda after, limit: list(reversed(real_fetch(after, limit)))
    src.stream = None  # a source that only fetches (the streamed read: below)
    with pytest.raises(OrderSourceError, match="is not after"):
        order_sync.sync_batch(src)
    assert count() == 0 and order_sync.position("dujiaoka") is None


# --- the mapping ---


def test_a_paid_order_enters_as_the_api_enters_it_and_the_buyer_finds_it(shop):
    shop.order(order_sn="PAID1", buy_amount=2, goods_price="19.90", actual_price="35.80")
    order_sync.sync(source())
    order = orders.lookup("PAID1", "buyer😀@example.com", "pw1234")
    assert (order.amount_fen, order.quantity, order.delivered_at) == (3580, 2, None)
    assert order.paid_at == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    pay = order.payment
    assert (pay.channel, pay.gateway_trade_id, pay.merchant_trade_no) == (
        "fakepay",
        "202612062200100000001",
        "PAID1",
    )
    assert pay.extra == {"pay_check": "zfbf2f", "pay_name": "支付宝当面付"}
    snap = db.session.scalar(select(ListingSnapshot).where(ListingSnapshot.order_id == order.id))
    assert (snap.title, snap.price_fen) == ("腾讯视频VIP月卡 x 1", 1990)
    assert order.product.sku == "dujiaoka-1"
    assert order.query_password_hash.startswith("$argon2")


def test_completion_later_delivers_the_codes_and_the_first_snapshot_stays(shop):
    shop.order(order_sn="LATER")
    order_sync.sync(source())
    with shop.engine.begin() as conn:
        conn.execute(text("UPDATE goods SET gd_name = 'renamed' WHERE id = 1"))
    shop.update(1, status=4, info="CODE-A\r\nCODE-B\n\nCODE-C ", updated_at="2026-12-01 10:01:00")
    result = order_sync.sync(source())
    assert result.delivered == 1
    order = db.session.scalar(select(Order).where(Order.order_no == "LATER"))
    codes = db.session.scalars(select(CardCode.code).where(CardCode.order_id == order.id))
    assert sorted(codes) == ["CODE-A", "CODE-B", "CODE-C"]
    assert order.delivered_at == datetime(2026, 12, 1, 2, 1, tzinfo=UTC)
    snap = db.session.scalar(select(ListingSnapshot).where(ListingSnapshot.order_id == order.id))
    assert snap.title == "腾讯视频VIP月卡 x 1"


def test_a_manual_order_completed_is_delivered_without_taking_its_info_as_codes(shop):
    shop.order(order_sn="MANUAL", goods_id=2, type=2, status=4, info="充值账号: 12345")
    order_sync.sync(source())
    order = db.session.scalar(select(Order).where(Order.order_no == "MANUAL"))
    assert order.delivered_at is not None
    assert count(CardCode) == 0


def test_failed_and_abnormal_orders_are_paid_and_not_delivered(shop):
    shop.order(order_sn="FAILED", status=5)
    shop.order(order_sn="ABNORMAL", status=6, info="卡密库存不足")
    order_sync.sync(source())
    got = db.session.execute(select(Order.order_no, Order.delivered_at)).all()
    assert sorted(got) == [("ABNORMAL", None), ("FAILED", None)]


# --- the database itself ---


def test_a_database_that_is_not_dujiaoka_is_named(shop):
    with shop.engine.begin() as conn:
        conn.execute(text("DROP TABLE pays"))
    with pytest.raises(OrderSourceError, match="missing table pays"):
        source().check()


def test_an_unsupported_version_names_the_missing_columns(shop):
    with shop.engine.begin() as conn:
        conn.execute(text("DROP TABLE orders"))
        conn.execute(text("CREATE TABLE orders (id bigint PRIMARY KEY, order_sn varchar(150))"))
    with pytest.raises(OrderSourceError, match=r"orders\.search_pwd") as caught:
        source().check()
    assert "not a dujiaoka database of a supported version" in str(caught.value)


def test_a_lost_connection_moves_nothing(shop, app):
    shop.order(order_sn="L1")
    app.config["DUJIAOKA_DATABASE_URL"] = "mysql+pymysql://nobody@127.0.0.1:1/none"
    with pytest.raises(OrderSourceError, match="reading orders failed"):
        order_sync.sync(source())
    assert order_sync.position("dujiaoka") is None and count() == 0


# --- the job and the command ---


def test_the_sweep_enqueues_one_job_per_source_and_the_job_syncs(shop, app):
    from jobs import order_sources
    from jobs.runtime import set_app

    set_app(app)
    shop.order(order_sn="J1")
    assert order_sources.sweep_order_sources() == 1
    assert order_sources.sweep_order_sources() == 1  # a copy waits: not enqueued again
    from portal.infra.queue import queue

    assert [j.args for j in queue().jobs] == [("dujiaoka",)]
    assert order_sources.sync_source("dujiaoka") == {
        "read": 1,
        "created": 1,
        "delivered": 0,
        "problems": 0,
    }
    assert order_sources.sync_source("dujiaoka")["read"] == 0


def test_connect_command_prints_progress_counts_and_each_problem(shop, app):
    shop.order(order_sn="CLI1")
    shop.order(order_sn="CLIBAD", pay_id=17)
    runner = app.test_cli_runner()
    out = runner.invoke(args=["connect", "dujiaoka"])
    assert out.exit_code == 0, out.output
    assert "2 rows read: 1 orders new" in out.output
    assert "row 2 order CLIBAD: unknown_gateway" in out.output
    again = runner.invoke(args=["connect", "dujiaoka", "--backfill"])
    assert "2 rows read: 0 orders new" in again.output
    assert count() == 1
    missing = runner.invoke(args=["connect", "nosuch"])
    assert missing.exit_code == 1 and "no order source 'nosuch'" in missing.output


# --- the operators' page ---


def test_supervisors_see_each_row_not_taken_in_with_its_reason_in_chinese(shop, browser):
    from tests.test_plugin_admin import login

    shop.order(order_sn="PAGEBAD", pay_id=17)
    shop.order(order_sn="PAGEOK")
    order_sync.sync(source())
    login(browser, "rev-os", "reviewer")
    assert browser.get("/review/plugins/order-sources").status_code == 403
    login(browser, "sup-os", "supervisor")
    page = browser.get(
        "/review/plugins/order-sources", headers={"Accept-Language": "zh-CN"}
    ).get_data(as_text=True)
    assert "订单来源" in page and "PAGEBAD" in page and "pay_check=paypal" in page
    assert "该支付通道没有对应的支付渠道" in page
    assert "PAGEOK" not in page
    assert "2026-12-01 10:00:05 / 2" in page


def test_a_delivery_on_an_order_cancelled_in_the_portal_is_not_added(shop, clock):
    shop.order(order_sn="CANCELLED")
    order_sync.sync(source())
    order = db.session.scalar(select(Order).where(Order.order_no == "CANCELLED"))
    order.cancelled_at = clock()
    db.session.commit()
    shop.update(1, status=4, info="CODE-X", updated_at="2026-12-01 10:02:00")
    result = order_sync.sync(source())
    assert (result.delivered, result.unchanged, count(CardCode)) == (0, 1, 0)


def test_the_connector_cannot_write_to_a_mysql_shop(shop):
    if shop.kind != "mariadb":
        pytest.skip("the session is made read-only on MySQL/MariaDB")
    with source().engine.connect() as conn, pytest.raises(Exception, match="READ ONLY"):
        conn.execute(text("DELETE FROM orders"))
