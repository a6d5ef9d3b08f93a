"""Demo data: merchants, products of each delivery type, orders in every interesting situation.

Loaded by ``refund-portal load-demo`` (and ``make run``); every order's query
password is ``demo1234`` and its contact ``13800000000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.models import (
    CardCode,
    ListingSnapshot,
    Merchant,
    Order,
    Payment,
    Product,
    RefundCase,
    User,
)
from portal.plugins.startup import channels
from portal.services import context
from portal.services.accounts.passwords import hash_password
from portal.services.accounts.staff import create_staff_user
from portal.services.actors import SYSTEM, Actor
from portal.services.money import ledger
from portal.services.refunds import cases
from portal.services.refunds.cancellations import cancel_order

CONTACT = "13800000000"
QUERY_PASSWORD = "demo1234"  # noqa: S105 - published demo login
STAFF = [
    ("reviewer", "reviewer", None, "审核员 Li"),
    ("reviewer2", "reviewer", None, "审核员 Wang"),
    ("supervisor", "supervisor", None, "主管 Zhao"),
    ("shop1", "merchant", "star-cards", "星辰卡铺 客服"),
    ("shop2", "merchant", "moon-keys", "月光软件 客服"),
]
STAFF_PASSWORD = "demo-pass-1"  # noqa: S105 - published demo login


@dataclass(frozen=True)
class DemoOrder:
    """One demo order and the situation it shows."""

    no: str
    product: str
    channel: str
    paid_ago: timedelta
    delivered_after: timedelta | None
    situation: str
    used: bool = False
    cancelled: bool = False
    revealed: bool = False


ORDERS = [
    DemoOrder(
        "DEMO1001",
        "steam50",
        "alipay",
        timedelta(days=1),
        timedelta(minutes=1),
        "delivered yesterday: can apply",
    ),
    DemoOrder(
        "DEMO1002",
        "steam50",
        "wechat",
        timedelta(hours=2),
        None,
        "instant, not delivered: approved at once",
    ),
    DemoOrder(
        "DEMO1003",
        "topup100",
        "alipay",
        timedelta(hours=3),
        None,
        "scheduled, SLA not passed: refused",
    ),
    DemoOrder(
        "DEMO1004",
        "office",
        "alipay",
        timedelta(days=12),
        timedelta(minutes=2),
        "after the 7-day window: refused",
    ),
    DemoOrder(
        "DEMO1005",
        "steam50",
        "alipay",
        timedelta(days=2),
        timedelta(minutes=1),
        "code topped up: refused",
        used=True,
        revealed=True,
    ),
    DemoOrder(
        "DEMO1006",
        "topup100",
        "alipay",
        timedelta(hours=5),
        None,
        "cancelled by merchant: automatic refund",
        cancelled=True,
    ),
    DemoOrder(
        "DEMO1007",
        "account",
        "wechat",
        timedelta(days=3),
        timedelta(minutes=30),
        "special policy (game account): refused",
    ),
    DemoOrder(
        "DEMO1008",
        "office",
        "alipay",
        timedelta(days=2),
        timedelta(minutes=3),
        "open case, waiting for review",
    ),
    DemoOrder(
        "DEMO1009",
        "steam50",
        "alipay",
        timedelta(days=3),
        timedelta(minutes=1),
        "rejected case: appeal or apply again",
        revealed=True,
    ),
    DemoOrder(
        "DEMO1010",
        "topup100",
        "bank",
        timedelta(days=1),
        timedelta(hours=2),
        "paid by bank card: can apply",
    ),
    DemoOrder(
        "DEMO1011",
        "office",
        "wechat",
        timedelta(days=1),
        timedelta(minutes=1),
        "case asking for more material",
    ),
]


def load() -> bool:
    """Load the demo data once; False if it is already there."""
    if db.session.scalar(select(Merchant).where(Merchant.slug == "star-cards")):
        return False
    now = context.now()
    star = Merchant(slug="star-cards", name="星辰卡铺 Star Cards")
    moon = Merchant(slug="moon-keys", name="月光软件 Moon Keys")
    db.session.add_all([star, moon])
    db.session.flush()
    products = {
        "steam50": Product(
            merchant_id=star.id,
            sku="steam50",
            title="Steam 钱包充值卡 50 元",
            description="即时发货，卡密自动发放。",
            face_value_fen=5000,
            price_fen=4850,
            delivery_type="instant",
            delivery_sla_minutes=5,
        ),
        "topup100": Product(
            merchant_id=star.id,
            sku="topup100",
            title="话费充值 100 元（预约）",
            description="预约充值，24 小时内到账。",
            face_value_fen=10000,
            price_fen=9800,
            delivery_type="scheduled",
            delivery_sla_minutes=24 * 60,
        ),
        "office": Product(
            merchant_id=moon.id,
            sku="office",
            title="Office 2021 专业版 激活密钥",
            description="正版密钥，一机一码，终身有效。",
            face_value_fen=0,
            price_fen=3900,
            delivery_type="instant",
            delivery_sla_minutes=5,
        ),
        "account": Product(
            merchant_id=moon.id,
            sku="account",
            title="游戏账号（成品号）",
            description="满级账号，含稀有皮肤。",
            face_value_fen=0,
            price_fen=29900,
            delivery_type="scheduled",
            delivery_sla_minutes=24 * 60,
            refund_window_days=0,
            policy_overrides_window=True,
            policy_text="账号类商品交付后不支持退款，交付前可全额退款。",
        ),
    }
    db.session.add_all(products.values())
    db.session.flush()
    pw_hash = hash_password(QUERY_PASSWORD)
    made: dict[str, Order] = {}
    for i, spec in enumerate(ORDERS):
        product = products[spec.product]
        paid_at = now - spec.paid_ago
        order = Order(
            order_no=spec.no,
            merchant_id=product.merchant_id,
            product_id=product.id,
            buyer_contact=CONTACT,
            query_password_hash=pw_hash,
            quantity=1,
            amount_fen=product.price_fen,
            created_at=paid_at,
            paid_at=paid_at,
            delivered_at=paid_at + spec.delivered_after if spec.delivered_after else None,
            goods_used=spec.used,
            goods_used_at=paid_at + timedelta(hours=1) if spec.used else None,
        )
        db.session.add(order)
        db.session.flush()
        db.session.add(
            ListingSnapshot(
                order_id=order.id,
                title=product.title,
                description=product.description,
                face_value_fen=product.face_value_fen,
                price_fen=product.price_fen,
                policy_text=product.policy_text,
                taken_at=paid_at,
            )
        )
        extra = {}
        if spec.channel == "bank":
            extra = {
                "account_name": "张三",
                "account_no": "6222020200112233445",
                "bank_name": "中国工商银行",
            }
        db.session.add(
            Payment(
                order_id=order.id,
                channel=spec.channel,
                gateway_trade_id=f"{spec.channel.upper()}T{20260000 + i:010d}",
                merchant_trade_no=f"PAY-{spec.no}",
                captured_fen=product.price_fen,
                paid_at=paid_at,
                extra=extra,
            )
        )
        if order.delivered_at:
            db.session.add(
                CardCode(
                    order_id=order.id,
                    code=f"{spec.product.upper()}-{i:04d}-XXXX-{1000 + i}",
                    delivered_at=order.delivered_at,
                    first_revealed_at=order.delivered_at + timedelta(minutes=3)
                    if spec.revealed
                    else None,
                )
            )
        made[spec.no] = order
    db.session.flush()
    for order in made.values():
        db.session.refresh(order)
        ledger.record_payment(order)
        if order.delivered_at:
            ledger.settle_to_merchant(order)
    db.session.commit()
    for username, role, merchant, name in STAFF:
        create_staff_user(username, STAFF_PASSWORD, role, merchant, name)
    staff = db.session.scalars(select(User).where(User.username == "reviewer")).one()
    reviewer = Actor(role=Role.REVIEWER, user_id=staff.id, label=staff.display_name)
    _case(made["DEMO1008"], Reason.UNUSABLE, "激活时提示“密钥已被使用”，截图见附件。")
    rejected = _case(made["DEMO1009"], Reason.NOT_AS_DESCRIBED, "说是50元，实际只有5元。")
    cases.reject(rejected, reviewer, "到账记录显示面值为 50 元，与描述一致。")
    asking = _case(made["DEMO1011"], Reason.UNUSABLE, "密钥无法激活。")
    cases.request_info(asking, reviewer, "请上传激活失败的错误提示截图。")
    loaded = channels()
    for spec in ORDERS:  # cancelled as a shop cancels: the refund starts by itself
        if spec.cancelled and spec.channel in loaded:
            cancel_order(made[spec.no], "缺货", SYSTEM)
    return True


def _case(order: Order, reason: Reason, text: str) -> RefundCase:
    return cases.apply_for_refund(
        order,
        cases.ApplyInput(
            kind=Kind.REFUND_ONLY, reason=reason, amount_fen=order.amount_fen, explanation=text
        ),
    )
