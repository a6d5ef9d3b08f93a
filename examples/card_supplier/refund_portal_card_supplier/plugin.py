"""Registers the supplier check with refund-portal (entry point ``card_supplier``)."""

from __future__ import annotations

from portal import hookimpl
from portal.plugins.risk_signals import PluginSignal, RiskApplication
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


def _fen(text: str) -> None:
    if not (text.isdigit() and 0 < int(text) < 10**12):
        raise ValueError(Words(zh="须为正整数（分）", en="a whole number of fen above 0"))


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
            "CARD_SUPPLIER_ALERT_FEN",
            Words(zh="大额申请提醒金额（分）", en="Large claim alert (fen)"),
            validator=_fen,
            help=Words(
                zh="该供货商商品的退款申请达到此金额时提示人工审核；不填则不提醒",
                en="claims on this supplier's cards from this amount ask for a person; empty: off",
            ),
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


@hookimpl
def assess_refund_risk(
    application: RiskApplication, settings: PluginSettings
) -> list[PluginSignal]:
    """A claim of at least CARD_SUPPLIER_ALERT_FEN on this supplier's cards asks for a person
    (the supplier's cards are worth more to a fraudster than most)."""
    alert = str(settings.get("CARD_SUPPLIER_ALERT_FEN") or "")
    prefix = settings.get("CARD_SUPPLIER_SKU_PREFIX") or ""
    if not alert.isdigit() or not application.product_sku.startswith(prefix):
        return []
    if application.amount_fen < int(alert):
        return []
    name = str(settings.get("CARD_SUPPLIER_NAME") or "Demo card supplier")
    yuan = f"{int(alert) / 100:.2f}"
    return [
        PluginSignal(
            1,
            Words(
                zh=f"{name} 的卡密退款申请金额达到 ¥{yuan}，请人工审核",
                en=f"A claim of ¥{yuan} or more on {name} cards: a person should look",
            ),
        )
    ]
