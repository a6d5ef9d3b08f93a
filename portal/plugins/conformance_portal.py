"""A throwaway portal for the conformance checks that need the core as well as the channel.

Some rules can only be seen with both sides at work: money a gateway reports moved for a
payout the portal holds as failed or paid another way must be raised to operators, never
acknowledged silently; a notification the gateway resends must be acknowledged and have no
second effect. :class:`KitPortal` runs the real portal (its migrations, services and
``/callbacks/<channel>`` endpoint) on a SQLite file in a temporary directory, with the
channel under test as its only channel. It needs no Redis: the jobs it would enqueue are not
run (the kit drives each step itself), and a failed enqueue is only logged.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from portal import create_app, hookimpl
from portal.domain.policy import Kind, Reason
from portal.domain.states import Role
from portal.extensions import db
from portal.infra.migrations import upgrade
from portal.models import (
    Event,
    LedgerTransaction,
    ListingSnapshot,
    Merchant,
    Notice,
    Order,
    Payment,
    Payout,
    Product,
    RefundCase,
    User,
)
from portal.plugins.channels import PaymentRef, PayoutChannel, RefundRequest, RefundResult
from portal.plugins.manager import make_plugin_manager
from portal.services.accounts.passwords import hash_password
from portal.services.accounts.staff import create_staff_user
from portal.services.actors import Actor
from portal.services.money import payout_lists, payout_ops, settlement
from portal.services.refunds import cases

#: a migrated database, made once per process and copied for each portal
_TEMPLATE: dict[str, Path] = {}
#: where jobs would go: nothing listens there, so enqueueing fails at once and is logged
_NO_REDIS = "redis://127.0.0.1:1/0"
KIT_PASSWORD = "conformance-kit-1"  # noqa: S105 - a throwaway portal's test login


def _config(directory: Path, channel: PayoutChannel | None) -> dict[str, Any]:

    class OnlyChannel:
        """The plugin that registers the channel under test, alone."""

        @hookimpl
        def register_payout_channels(self) -> list[PayoutChannel]:
            return [channel] if channel is not None else []

    pm = make_plugin_manager(load_entry_points=False)
    pm.register(OnlyChannel(), name="conformance-kit")
    return {
        "PLUGIN_MANAGER": pm,
        "TESTING": True,
        "SECRET_KEY": uuid.uuid4().hex * 2,
        "DATABASE_URL": f"sqlite:///{directory / 'portal.sqlite3'}",
        "REDIS_URL": _NO_REDIS,
        "RATELIMIT_STORAGE_URI": "memory://",
        "ARGON2_TIME_COST": 1,
        "ARGON2_MEMORY_COST": 1024,
        "EVIDENCE_DIR": str(directory / "evidence"),
        "SERVER_NAME": "portal.test",
    }


def _template() -> Path:
    if "db" not in _TEMPLATE:
        directory = Path(tempfile.mkdtemp(prefix="refund-portal-kit-"))
        app = create_app(_config(directory, None))
        with app.app_context():
            upgrade()
            db.engine.dispose()
        _TEMPLATE["db"] = directory / "portal.sqlite3"
    return _TEMPLATE["db"]


class KitPortal:
    """The portal with ``channel`` as its only payout channel; use inside ``running()``."""

    def __init__(self, channel: PayoutChannel, directory: Path) -> None:

        shutil.copy(_template(), directory / "portal.sqlite3")
        self.channel = channel
        self.app = create_app(_config(directory, channel))
        self.client = self.app.test_client()

    @contextmanager
    def running(self) -> Iterator[KitPortal]:
        """An application context for the services (the callbacks use their own)."""

        with self.app.app_context():
            try:
                yield self
            finally:
                db.session.remove()
                db.engine.dispose()

    # -- setting the scene, through the portal's own services --------------------------

    def approved_payout(self, payment: PaymentRef, amount_fen: int) -> tuple[int, RefundRequest]:
        """An order paid by ``payment``, a refund case approved for ``amount_fen``: the payout
        the portal created (not yet sent) and the request it sends the channel."""

        order = self._order(payment)
        case = cases.apply_for_refund(
            order, cases.ApplyInput(Kind.REFUND_ONLY, Reason.UNUSABLE, amount_fen, "kit")
        )
        cases.approve(case, self.reviewer(), None, "conformance kit")
        payout = db.session.scalars(select(Payout).where(Payout.case_id == case.id)).one()
        row = db.session.scalars(select(Payment).where(Payment.id == payout.payment_id)).one()
        case_no = db.session.get_one(RefundCase, case.id).case_no
        return payout.id, settlement.refund_request(payout, row, case_no)

    def reviewer(self) -> Any:
        """A reviewer (made on first use)."""

        user = db.session.scalars(select(User).where(User.username == "kit-reviewer")).first()
        if user is None:
            user = create_staff_user("kit-reviewer", KIT_PASSWORD, "reviewer", None)
        return Actor(Role.REVIEWER, user.id, "conformance kit")

    def _order(self, payment: PaymentRef) -> Any:

        tag = uuid.uuid4().hex[:10]
        merchant = Merchant(slug=f"kit{tag}", name=f"Kit shop {tag}")
        db.session.add(merchant)
        db.session.flush()
        fen = payment.captured_fen
        product = Product(
            merchant_id=merchant.id, sku="kit", title="Kit card", price_fen=fen, face_value_fen=fen
        )
        db.session.add(product)
        db.session.flush()
        paid_at = datetime.now(UTC) - timedelta(hours=1)
        order = Order(
            order_no=f"K{tag}",
            merchant_id=merchant.id,
            product_id=product.id,
            buyer_contact="buyer@example.com",
            query_password_hash=hash_password(KIT_PASSWORD),
            amount_fen=fen,
            paid_at=paid_at,
            created_at=paid_at,
            delivered_at=paid_at + timedelta(minutes=1),
            goods_used=False,
        )
        db.session.add(order)
        db.session.flush()
        db.session.add(
            ListingSnapshot(order_id=order.id, title="Kit card", face_value_fen=fen, price_fen=fen)
        )
        db.session.add(
            Payment(
                order_id=order.id,
                channel=payment.channel,
                gateway_trade_id=payment.gateway_trade_id,
                merchant_trade_no=payment.merchant_trade_no,
                captured_fen=fen,
                currency=payment.currency,
                paid_at=paid_at,
                extra=dict(payment.extra),
            )
        )
        db.session.commit()
        return order

    def record_answer(self, payout_id: int, result: RefundResult) -> None:
        """The channel's answer, applied by the core as the settlement job applies it."""

        settlement.apply_result(payout_id, result, source="call")

    def pay_another_way(self, payout_id: int) -> None:
        """An operator records that the refund was paid by another route."""

        payout_ops.pay_another_way(
            payout_id, self.reviewer(), "bank transfer", "conformance kit: paid by hand"
        )

    def notify(self, headers: dict[str, str] | Any, body: bytes) -> tuple[int, bytes]:
        """Deliver a notification to ``/callbacks/<channel id>``: the status and body answered."""
        response = self.client.post(
            f"/callbacks/{self.channel.id}", data=body, headers=dict(headers)
        )
        return response.status_code, response.get_data()

    # -- what the portal recorded ---------------------------------------------------------

    def state(self, payout_id: int) -> str:
        """The payout's state in the database."""

        db.session.expire_all()
        return db.session.get_one(Payout, payout_id).state

    def events(self, payout_id: int, kind: str) -> list[dict[str, Any]]:
        """The data of the payout's events of ``kind``."""

        db.session.expire_all()
        rows = db.session.scalars(
            select(Event.data).where(Event.payout_id == payout_id, Event.kind == kind)
        )
        return [dict(data or {}) for data in rows]

    def ledger_entries(self, payout_id: int) -> int:
        """How many ledger transactions the payout has (its money moving, each way)."""

        return (
            db.session.scalar(
                select(func.count())
                .select_from(LedgerTransaction)
                .where(LedgerTransaction.payout_id == payout_id)
            )
            or 0
        )

    def staff_notices(self, kind: str) -> int:
        """How many staff notices of ``kind`` were written."""

        return (
            db.session.scalar(
                select(func.count())
                .select_from(Notice)
                .where(Notice.kind == kind, Notice.audience == "staff")
            )
            or 0
        )

    def possible_doubles(self) -> list[int]:
        """The payout ids the payouts page lists as possible double payments."""

        return [d.payout_id for d in payout_lists.possible_double_payments()]
