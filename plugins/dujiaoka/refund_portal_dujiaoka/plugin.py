"""The plugin hooks: the dujiaoka order source and its settings."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal import hookimpl
from portal.plugins.order_sources import OrderSource, OrderSourceError
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.words import Words
from refund_portal_dujiaoka.mapping import parse_gateways
from refund_portal_dujiaoka.source import DujiaokaSource, make_engine

SOURCE_ID = "dujiaoka"
#: seconds a buyer's lookup waits for the shop's database to connect or answer
LOOKUP_TIMEOUT = 5


def _gateways(text: str) -> None:
    try:
        parse_gateways(text)
    except ValueError:
        raise ValueError(
            Words(zh="格式：支付标识=渠道，用逗号分隔", en="pay_check=channel, comma separated")
        ) from None


def _zone(text: str) -> None:
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(Words(zh="无法识别的时区名称", en="like Asia/Shanghai")) from None


@hookimpl
def register_settings() -> list[Setting]:
    """Every key this plugin reads."""
    w = Words
    return [
        Setting(
            "DUJIAOKA_DATABASE_URL",
            secret=True,
            label=w(zh="独角数卡数据库地址（只读账号）", en="dujiaoka database URL (read-only)"),
            help=w(
                zh="只读账号的数据库连接地址",
                en="like mysql+pymysql://readonly:password@host/dbname",
            ),
        ),
        Setting(
            "DUJIAOKA_MERCHANT",
            label=w(zh="订单所属商家的标识", en="merchant slug the orders belong to"),
        ),
        Setting(
            "DUJIAOKA_GATEWAYS",
            label=w(zh="支付标识与支付渠道的对应", en="payment gateways to payout channels"),
            validator=_gateways,
            help=w(
                zh="每项为“支付标识=渠道编号”，用逗号分隔",
                en="like alipay=alipay,wxpay=wechat",
            ),
        ),
        Setting(
            "DUJIAOKA_TIMEZONE",
            label=w(zh="商店数据库的时区", en="time zone of the shop's database"),
            validator=_zone,
            default="Asia/Shanghai",
        ),
    ]


@hookimpl
def register_order_sources(settings: PluginSettings) -> list[OrderSource]:
    """The shop's database, when its URL is set."""
    url = settings.get("DUJIAOKA_DATABASE_URL")
    if not url:
        return []
    merchant = settings.get("DUJIAOKA_MERCHANT")
    if not merchant:
        raise OrderSourceError("DUJIAOKA_MERCHANT is not set: whose orders are these?")
    try:
        gateways = parse_gateways(settings.get("DUJIAOKA_GATEWAYS") or "")
        zone = ZoneInfo(settings.get("DUJIAOKA_TIMEZONE") or "Asia/Shanghai")
    except (ValueError, ZoneInfoNotFoundError) as exc:
        raise OrderSourceError(f"dujiaoka settings: {exc}") from None
    lookups = make_engine(url, timeout=LOOKUP_TIMEOUT)
    return [DujiaokaSource(SOURCE_ID, merchant, make_engine(url), gateways, zone, lookups)]
