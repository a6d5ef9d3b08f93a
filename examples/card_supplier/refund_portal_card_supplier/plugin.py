"""Registers the supplier check with refund-portal (entry point ``card_supplier``)."""

from __future__ import annotations

from portal import hookimpl
from portal.plugins.settings import PluginSettings, Setting
from portal.plugins.suppliers import RedemptionAnswer, SupplierQuery
from portal.plugins.words import Words
from refund_portal_card_supplier import client


def _seconds(text: str) -> None:
    try:
        ok = 0 < float(text) <= 30
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(Words(zh="须为 0 到 30 之间的秒数", en="a number of seconds, 0 to 30"))


@hookimpl
def register_settings() -> list[Setting]:
    """Every setting the check reads."""
    return [
        Setting(
            "CARD_SUPPLIER_URL",
            Words(zh="供货商接口地址", en="Supplier API address"),
            help=Words(zh="不填则不查询供货商", en="empty: the supplier is not asked"),
        ),
        Setting(
            "CARD_SUPPLIER_KEY",
            Words(zh="供货商接口密钥", en="Supplier API key"),
            secret=True,
        ),
        Setting(
            "CARD_SUPPLIER_NAME",
            Words(zh="供货商名称", en="Supplier name"),
            default="Demo card supplier",
        ),
        Setting(
            "CARD_SUPPLIER_SKU_PREFIX",
            Words(zh="该供货商的商品编码前缀", en="SKU prefix of this supplier's products"),
            help=Words(zh="不填则查询所有商品", en="empty: every product is this supplier's"),
        ),
        Setting(
            "CARD_SUPPLIER_TIMEOUT",
            Words(zh="等待供货商答复（秒）", en="Wait for the supplier (seconds)"),
            validator=_seconds,
            default="2",
        ),
    ]


@hookimpl
def check_supplier_redemption(
    query: SupplierQuery, settings: PluginSettings
) -> RedemptionAnswer | None:
    """Ask the supplier about the code (None: not configured, or not this supplier's SKU).
    Failures raise: the portal shows the answer as unknown."""
    url, key = settings.get("CARD_SUPPLIER_URL"), settings.get("CARD_SUPPLIER_KEY")
    if not url or not key:
        return None
    prefix = settings.get("CARD_SUPPLIER_SKU_PREFIX") or ""
    if not query.product_sku.startswith(prefix):
        return None
    timeout = float(settings.get("CARD_SUPPLIER_TIMEOUT") or 2)
    answer = client.ask(str(url), str(key), query.code, query.order_no, timeout)
    name = str(settings.get("CARD_SUPPLIER_NAME") or "Demo card supplier")
    return RedemptionAnswer(name, answer.status, answer.redeemed_at)
