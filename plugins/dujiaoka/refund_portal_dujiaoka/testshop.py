"""A dujiaoka shop database for tests and benchmarks: our own DDL (``test_schema.sql``,
written from dujiaoka's install SQL) and a generator of goods, gateways and orders."""

from __future__ import annotations

import importlib.util
import os
from importlib.resources import files
from typing import Any

from sqlalchemy import Engine, column, create_engine, make_url, table, text

from refund_portal_dujiaoka.source import make_engine

#: the MariaDB server tests use when it is reachable (root, empty password)
MARIADB_URL = os.environ.get("DUJIAOKA_TEST_MARIADB_URL", "mysql+pymysql://root:@127.0.0.1:3306")
TEST_DATABASE = "dujiaoka_test"
PAYS = (
    (1, "支付宝当面付", "zfbf2f", "/pay/alipay"),
    (8, "微信扫码", "wescan", "/pay/wepay"),
    (14, "易支付-支付宝", "alipay", "/pay/yipay"),
    (17, "PayPal", "paypal", "/pay/paypal"),
)


def statements() -> list[str]:
    """The DDL's statements, comments left out."""
    sql = files("refund_portal_dujiaoka").joinpath("test_schema.sql").read_text("utf-8")
    lines = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in lines.split(";") if s.strip()]


def create_schema(engine: Engine) -> None:
    """Create the tables (dropping ours first)."""
    with engine.begin() as conn:
        for table in ("orders", "carmis", "pays", "goods"):
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        for stmt in statements():
            conn.execute(text(stmt))


def mariadb_database(name: str = TEST_DATABASE) -> str:
    """Create (again) our own database on the MariaDB server; its URL. Raises if unreachable."""
    if importlib.util.find_spec("pymysql") is None:
        raise ImportError("pymysql is not installed")

    server = create_engine(MARIADB_URL, connect_args={"connect_timeout": 3})
    with server.begin() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    server.dispose()
    return make_url(MARIADB_URL).set(database=name).render_as_string(hide_password=False)


class TestShop:
    """Rows in a dujiaoka database, with defaults a real shop would have."""

    __test__ = False  # not a pytest class

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url, read_only=False)
        self._next = 0

    def setup(self) -> TestShop:
        """The tables, the gateways of install.sql and two goods."""
        create_schema(self.engine)
        for pay_id, name, check, route in PAYS:
            self.insert(
                "pays",
                id=pay_id,
                pay_name=name,
                pay_check=check,
                pay_method=1,
                pay_handleroute=route,
            )
        self.insert(
            "goods",
            id=1,
            group_id=1,
            gd_name="腾讯视频VIP月卡",
            gd_description="自动发货，卡密一行一个",
            gd_keywords="vip",
            actual_price="19.90",
        )
        self.insert(
            "goods",
            id=2,
            group_id=1,
            gd_name="代充服务",
            gd_description="人工处理",
            gd_keywords="",
            actual_price="30.00",
            type=2,
        )
        return self

    def insert(self, name: str, **values: Any) -> None:
        """One row, as given."""
        rows = table(name, *(column(c) for c in values))
        with self.engine.begin() as conn:
            conn.execute(rows.insert().values(**values))

    def order(self, **over: Any) -> dict[str, Any]:
        """An order (paid by Alipay face-to-face, status 2) with ``over`` changed; its row."""
        self._next += 1
        n = over.pop("id", None) or self._next
        self._next = max(self._next, n)
        row: dict[str, Any] = {
            "id": n,
            "order_sn": f"DJK{n:013d}",
            "goods_id": 1,
            "title": "腾讯视频VIP月卡 x 1",
            "type": 1,
            "goods_price": "19.90",
            "buy_amount": 1,
            "total_price": "19.90",
            "actual_price": "19.90",
            "search_pwd": "pw1234",
            "email": "buyer😀@example.com",
            "info": "",
            "pay_id": 1,
            "buy_ip": "127.0.0.1",
            "trade_no": f"2026120622001{n:08d}",
            "status": 2,
            "created_at": "2026-12-01 10:00:00",
            "updated_at": "2026-12-01 10:00:05",
        }
        row.update(over)
        self.insert("orders", **row)
        return row

    def update(self, order_id: int, **values: Any) -> None:
        """Change an order as the shop would (set updated_at yourself)."""
        rows = table("orders", column("id"), *(column(c) for c in values))
        with self.engine.begin() as conn:
            conn.execute(rows.update().where(rows.c.id == order_id).values(**values))
