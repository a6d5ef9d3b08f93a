"""Reading a dujiaoka database, read-only, through SQLAlchemy Core: the columns the mapping
needs, in (updated_at, id) order after a stored position. ``stream`` reads them by one
query on an unbuffered cursor, as they are taken in: the shop's ``orders`` has no index on
``updated_at``, so each query scans and sorts the whole table."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from datetime import tzinfo
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    and_,
    create_engine,
    event,
    false,
    func,
    inspect,
    or_,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement

from portal.plugins.order_sources import OrderSourceError, SourceOrder, SourcePosition
from refund_portal_dujiaoka.mapping import to_source_order

# Columns read as the driver gives them (String/Integer: no type processing), so that
# zero-dates and odd values reach the mapping instead of failing the whole read.
meta = MetaData()
orders = Table(
    "orders",
    meta,
    *(Column(n, Integer) for n in ("id", "goods_id", "type", "buy_amount", "pay_id", "status")),
    *(Column(n, String) for n in ("order_sn", "title", "goods_price", "actual_price")),
    *(Column(n, String) for n in ("search_pwd", "email", "info", "trade_no")),
    *(Column(n, String) for n in ("created_at", "updated_at")),
)
goods = Table(
    "goods",
    meta,
    Column("id", Integer),
    *(Column(n, String) for n in ("gd_name", "gd_description", "actual_price")),
)
pays = Table(
    "pays", meta, Column("id", Integer), Column("pay_check", String), Column("pay_name", String)
)
TABLES = (orders, goods, pays)


def _sqlite_lenient_text(dbapi_conn: Any, _record: Any) -> None:
    if isinstance(dbapi_conn, sqlite3.Connection):
        # undecodable bytes reach the mapping (which names the column) instead of failing
        dbapi_conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")


def make_engine(url: str, read_only: bool = True, timeout: int | None = None) -> Engine:
    """An engine for the shop's database (the account should be granted SELECT only);
    ``read_only=False`` for the test shop, which writes its own rows; ``timeout``: seconds
    to connect and to wait for an answer (the buyer's lookup waits on it)."""
    # no pool: a connection per read, none left open on the shop between the minute's jobs
    args: dict[str, Any] = {"poolclass": NullPool}
    if url.startswith("mysql"):
        # read-only by the session too, not only by the account's grants
        args["connect_args"] = {"charset": "utf8mb4"}
        if timeout is not None:
            args["connect_args"].update(connect_timeout=timeout, read_timeout=timeout)
        if read_only:
            args["connect_args"]["init_command"] = "SET SESSION TRANSACTION READ ONLY"
    engine = create_engine(url, **args)
    event.listen(engine, "connect", _sqlite_lenient_text)
    return engine


def _after(pos: SourcePosition | None) -> ColumnElement[bool] | None:
    if pos is None:
        return None
    if pos.updated is None:  # NULLs sort first: the rest of them, then every dated row
        return or_(
            and_(orders.c.updated_at.is_(None), orders.c.id > pos.row_id),
            orders.c.updated_at.is_not(None),
        )
    return or_(
        orders.c.updated_at > pos.updated,
        and_(orders.c.updated_at == pos.updated, orders.c.id > pos.row_id),
    )


def orders_after(after: SourcePosition | None, limit: int | None) -> Select[Any]:
    """The orders read after ``after`` (joined with their goods and gateway), in
    (updated_at, id) order, at most ``limit`` (None: all)."""
    stmt = (
        select(
            orders,
            goods.c.gd_name,
            goods.c.gd_description,
            goods.c.actual_price.label("gd_actual_price"),
            pays.c.pay_check,
            pays.c.pay_name,
        )
        .select_from(
            orders.outerjoin(goods, goods.c.id == orders.c.goods_id).outerjoin(
                pays, pays.c.id == orders.c.pay_id
            )
        )
        .order_by(orders.c.updated_at, orders.c.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    where = _after(after)
    return stmt if where is None else stmt.where(where)


#: rows taken from the unbuffered cursor at a time
STREAM_CHUNK = 500


def _unbuffered_cursor(raw: Any) -> Any:
    """A cursor that reads rows as they are taken (PyMySQL's ``SSCursor``; SQLite's cursors
    already do)."""
    driver = raw.driver_connection
    if type(driver).__module__.startswith("pymysql"):
        import pymysql.cursors  # type: ignore[import-untyped]

        cursor = driver.cursor(pymysql.cursors.SSCursor)
        # the server drops a client that reads nothing for this long (the default is 60 s)
        cursor.execute("SET SESSION net_write_timeout = 600")
        return cursor
    return raw.cursor()


def _positional(compiled: Any) -> Any:
    """The compiled statement's parameters as its driver's paramstyle wants them."""
    if compiled.positiontup is not None:
        return tuple(compiled.params[name] for name in compiled.positiontup)
    return compiled.params


class DujiaokaSource:
    """One dujiaoka shop's database as an order source."""

    def __init__(
        self,
        source_id: str,
        merchant: str,
        engine: Engine,
        gateways: Mapping[str, str],
        zone: tzinfo,
        lookup_engine: Engine | None = None,
    ) -> None:
        self.id = source_id
        self.merchant = merchant
        self.engine = engine
        #: a buyer's lookup reads through this one (short timeouts); else ``engine``
        self.lookup_engine = lookup_engine or engine
        self.gateways = dict(gateways)
        self.zone = zone

    def check(self) -> None:
        """Every table and column read here exists; else name what is missing."""
        try:
            tables = set(inspect(self.engine).get_table_names())
            missing: list[str] = []
            with self.engine.connect() as conn:
                for table in TABLES:
                    if table.name not in tables:
                        missing.append(f"table {table.name}")
                        continue
                    # the names only: reflecting MySQL types on SQLite would only warn
                    have = set(
                        conn.execute(select(text("*")).select_from(table).where(false())).keys()
                    )
                    missing += [
                        f"{table.name}.{c.name}" for c in table.columns if c.name not in have
                    ]
        except SQLAlchemyError as exc:
            raise OrderSourceError(f"{self.id}: cannot read the database: {exc}") from None
        if missing:
            raise OrderSourceError(
                f"{self.id}: not a dujiaoka database of a supported version; missing "
                + ", ".join(missing)
            )

    def fetch(self, after: SourcePosition | None, limit: int) -> Sequence[SourceOrder]:
        """Up to ``limit`` orders after ``after``, mapped, in (updated_at, id) order."""
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(orders_after(after, limit)).mappings().all()
        except SQLAlchemyError as exc:
            raise OrderSourceError(f"{self.id}: reading orders failed: {exc}") from None
        return [to_source_order(row, self.gateways, self.zone) for row in rows]

    def stream(self, after: SourcePosition | None, limit: int | None) -> Iterator[SourceOrder]:
        """The orders ``fetch`` gives (all of them after ``after`` when ``limit`` is None),
        read by one query and mapped as the caller takes them; close the iterator to stop
        early (the connection is then dropped, not drained)."""
        stmt = orders_after(after, limit)
        errors = (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error)
        try:
            raw = self.engine.raw_connection()
        except errors as exc:
            raise OrderSourceError(f"{self.id}: reading orders failed: {exc}") from None
        finished = False
        try:
            cursor = _unbuffered_cursor(raw)
            compiled = stmt.compile(dialect=self.engine.dialect)
            cursor.execute(str(compiled), _positional(compiled))
            names = [d[0] for d in cursor.description]
            gateways, zone = self.gateways, self.zone
            while True:
                rows = cursor.fetchmany(STREAM_CHUNK)
                if not rows:
                    break
                for values in rows:
                    yield to_source_order(dict(zip(names, values, strict=True)), gateways, zone)
            cursor.close()
            finished = True
        except errors as exc:
            raise OrderSourceError(f"{self.id}: reading orders failed: {exc}") from None
        finally:
            if finished:
                raw.close()
            else:  # stopped early or failed: drop the connection rather than read the rest
                raw.invalidate()

    def query_password(self, order_no: str) -> str | None:
        """``search_pwd`` of the shop's order ``order_no`` (None: no such order, or none kept)."""
        stmt = select(orders.c.order_sn, orders.c.search_pwd).where(orders.c.order_sn == order_no)
        try:
            with self.lookup_engine.connect() as conn:
                found = conn.execute(stmt.limit(2)).all()
        except SQLAlchemyError as exc:
            raise OrderSourceError(f"{self.id}: reading a query password failed: {exc}") from None
        # MySQL compares order_sn without case: the number must be the one stored, exactly
        exact = [pwd for sn, pwd in found if sn == order_no]
        if len(exact) != 1 or not isinstance(exact[0], str) or not exact[0]:
            return None
        return exact[0]

    def remaining(self, after: SourcePosition | None) -> int:
        """How many orders lie after ``after``."""
        stmt = select(func.count()).select_from(orders)
        where = _after(after)
        if where is not None:
            stmt = stmt.where(where)
        try:
            with self.engine.connect() as conn:
                return int(conn.execute(stmt).scalar_one())
        except SQLAlchemyError as exc:
            raise OrderSourceError(f"{self.id}: counting orders failed: {exc}") from None
