"""Database tables (SQLAlchemy 2.0 mappings). Tables only: rules live in ``portal.domain``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, Protocol

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    TypeDecorator,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.domain import freeze_states, offer_states, reconciliation, rollups, ticket_states
from portal.domain.payout_states import PayoutState
from portal.extensions import Model


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Aware datetimes stored as UTC; SQLite gives them back aware too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


Fen = BigInteger
TS = UTCDateTime


class Merchant(Model):
    """A shop selling on the platform."""

    __tablename__ = "merchants"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))

    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class User(UserMixin, Model):
    """Staff: reviewers, supervisors, merchant staff."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # reviewer | supervisor | merchant
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # a session cookie carries the epoch of its login; raising it ends every copy of every
    # session of this login (logout, password change, "sign out everywhere")
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    __table_args__ = (
        CheckConstraint("role in ('reviewer', 'supervisor', 'merchant')", name="role"),
    )


class Product(Model):
    """A product listing with its delivery SLA and refund policy."""

    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    face_value_fen: Mapped[int] = mapped_column(Fen, default=0)
    price_fen: Mapped[int] = mapped_column(Fen)
    delivery_type: Mapped[str] = mapped_column(String(10), default="instant")
    delivery_sla_minutes: Mapped[int] = mapped_column(Integer, default=5)
    refund_window_days: Mapped[int] = mapped_column(Integer, default=7)
    policy_text: Mapped[str] = mapped_column(Text, default="")
    policy_overrides_window: Mapped[bool] = mapped_column(Boolean, default=False)
    merchant: Mapped[Merchant] = relationship()
    __table_args__ = (
        CheckConstraint("delivery_type in ('instant', 'scheduled')", name="delivery_type"),
        CheckConstraint("price_fen >= 0", name="price"),
        Index("ix_products_merchant_sku", "merchant_id", "sku", unique=True),
    )


class Order(Model):
    """A buyer's order and its timestamps (paid, delivered, cancelled, used)."""

    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    # unique per shop: another shop's order number is no concern of this one
    order_no: Mapped[str] = mapped_column(String(64), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    buyer_contact: Mapped[str] = mapped_column(String(120), index=True)  # staff search
    # "" while no hash is kept: an order from an order source that keeps the buyer's query
    # password itself (``password_source``), until the buyer's first lookup; or erased
    query_password_hash: Mapped[str] = mapped_column(String(255))
    # the order source whose own stored query password a lookup checks, while this order has
    # no hash of ours (portal.services.integration.source_passwords); None once we keep one
    password_source: Mapped[str | None] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    cancelled_at: Mapped[datetime | None] = mapped_column(TS)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")
    goods_used: Mapped[bool] = mapped_column(Boolean, default=False)
    goods_used_at: Mapped[datetime | None] = mapped_column(TS)
    # sha256 of the order as the shop sent it (API/CSV): the same order sent again is no conflict
    source_print: Mapped[str] = mapped_column(String(64), default="")
    # when the buyer's personal data on the order was erased (retention or the buyer's
    # request: portal.services.privacy.erasure); None while it is kept
    erased_at: Mapped[datetime | None] = mapped_column(TS)
    product: Mapped[Product] = relationship()
    merchant: Mapped[Merchant] = relationship()
    payment: Mapped[Payment | None] = relationship(back_populates="order", uselist=False)
    snapshot: Mapped[ListingSnapshot | None] = relationship(uselist=False)
    codes: Mapped[list[CardCode]] = relationship(order_by="CardCode.id")
    __table_args__ = (
        CheckConstraint("amount_fen >= 0", name="amount"),
        CheckConstraint("quantity > 0", name="quantity"),
        Index("ix_orders_merchant_order_no", "merchant_id", "order_no", unique=True),
    )


# the buyer's history by contact reads contacts as the order lookup compares them (trimmed,
# lower case: "Buyer@x.cn " is "buyer@x.cn"), through this index (portal.services.risk.signals)
Index("ix_orders_contact_normal", func.lower(func.trim(Order.buyer_contact)))


class ListingSnapshot(Model):
    """The product listing as the buyer saw it at purchase."""

    __tablename__ = "listing_snapshots"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    face_value_fen: Mapped[int] = mapped_column(Fen, default=0)
    price_fen: Mapped[int] = mapped_column(Fen, default=0)
    policy_text: Mapped[str] = mapped_column(Text, default="")
    taken_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Payment(Model):
    """The payment an order came from: where a refund must go back to."""

    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    channel: Mapped[str] = mapped_column(String(40))
    gateway_trade_id: Mapped[str] = mapped_column(String(64))
    merchant_trade_no: Mapped[str] = mapped_column(String(64))
    captured_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    paid_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # the payer's account id as the gateway reports it (Alipay buyer_id / buyer_open_id,
    # WeChat openid), taken from ``extra`` when the order comes in; "" when not known
    payer_id: Mapped[str] = mapped_column(String(64), default="", server_default="", index=True)
    order: Mapped[Order] = relationship(back_populates="payment")
    __table_args__ = (CheckConstraint("captured_fen >= 0", name="captured"),)


class CardCode(Model):
    """A card code delivered on an order, and when the buyer first revealed it."""

    __tablename__ = "card_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    code: Mapped[str] = mapped_column(String(200))
    delivered_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    first_revealed_at: Mapped[datetime | None] = mapped_column(TS)
    returned_at: Mapped[datetime | None] = mapped_column(TS)


class CaseLike(Protocol):
    """What the state machine, the audit trail and the notices read of a case: a loaded
    ``RefundCase``, or a plain row of its columns plus ``merchant_id`` (settlement)."""

    id: int
    case_no: str
    order_id: int
    state: str
    version: int
    deadline_at: datetime | None
    deadline_kind: str
    remind_at: datetime | None

    @property
    def merchant_id(self) -> int: ...


class RefundCase(Model):
    """A refund application and its review, one state machine per case."""

    __tablename__ = "refund_cases"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # the order's shop, copied when the case is filed (an order never changes shop): the
    # shop's lists read it without joining the orders
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    # the order's product (0: none known) and payment route ("": none known), copied when the
    # case is filed: the open backlog's count per product and route reads no other table
    product_id: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    channel: Mapped[str] = mapped_column(String(40), default="", server_default="")
    # equals order_id while the case is open, NULL otherwise: one open case per order
    open_order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(30))
    explanation: Mapped[str] = mapped_column(Text, default="")
    amount_requested_fen: Mapped[int] = mapped_column(Fen)
    amount_approved_fen: Mapped[int | None] = mapped_column(Fen)
    state: Mapped[str] = mapped_column(String(20), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    deadline_at: Mapped[datetime | None] = mapped_column(TS, index=True)
    deadline_kind: Mapped[str] = mapped_column(String(30), default="")
    # the merchant's answer window (silence past it counts as agreeing)
    merchant_deadline_at: Mapped[datetime | None] = mapped_column(TS, index=True)
    remind_at: Mapped[datetime | None] = mapped_column(TS, index=True)  # reviewers reminded
    reminded_at: Mapped[datetime | None] = mapped_column(TS)
    escalated_at: Mapped[datetime | None] = mapped_column(TS)  # past the review target
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # the reviewer working the case (claimed, taken from the queue or given by a supervisor)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    assigned_at: Mapped[datetime | None] = mapped_column(TS)
    rejected_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_note: Mapped[str] = mapped_column(Text, default="")  # a person's words
    # or the system's: a Note as JSON (portal.domain.notes), worded when read
    decision_msg: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    info_request: Mapped[str] = mapped_column(Text, default="")
    appeal_count: Mapped[int] = mapped_column(Integer, default=0)
    auto_rule: Mapped[str] = mapped_column(String(40), default="")
    # the network address the application came from ("" when filed by the system)
    applicant_address: Mapped[str] = mapped_column(String(45), default="", server_default="")
    # a RiskLevel (portal.domain.risk) as assessed when filed ("": filed before risk existed)
    risk_level: Mapped[str] = mapped_column(String(10), default="", server_default="")
    risk_signals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    order: Mapped[Order] = relationship(foreign_keys=[order_id])
    evidence: Mapped[list[Evidence]] = relationship(order_by="Evidence.id")
    rejected_by: Mapped[User | None] = relationship(foreign_keys=[rejected_by_id])
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    __table_args__ = (
        CheckConstraint("amount_requested_fen > 0", name="requested"),
        CheckConstraint("appeal_count <= 1", name="one_appeal"),
        CheckConstraint(
            "kind in ('refund_only', 'return_and_refund')",
            name="kind",
        ),
        # the open cases (open_order_id is set exactly while a case is open) in list order:
        # the queue, a shop's list, a reviewer's own cases (portal.services.refunds.queues).
        # Partial in the database (WHERE open_order_id IS NOT NULL: migration q1_case_lists);
        # named here by their columns only, because a dialect's `*_where` argument makes
        # SQLAlchemy import that dialect in every process that imports the models
        Index(
            "ix_refund_cases_open_deadline",
            "deadline_at",
            "id",
        ),
        Index(
            "ix_refund_cases_open_shop_deadline",
            "merchant_id",
            "deadline_at",
            "id",
        ),
        Index(
            "ix_refund_cases_open_assignee_deadline",
            "assignee_id",
            "deadline_at",
            "id",
        ),
        # velocity per network address (portal.services.risk.signals)
        Index("ix_refund_cases_address_created", "applicant_address", "created_at"),
    )


class Evidence(Model):
    """A file uploaded as evidence for a case."""

    __tablename__ = "evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)
    original_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(60))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    phash: Mapped[str | None] = mapped_column(String(16), index=True)  # images: perceptual hash
    # the perceptual hash in 4 bands of 16 bits, each on an index, so that near duplicates
    # are found without reading every hash (portal.domain.picture_likeness)
    phash_b0: Mapped[str | None] = mapped_column(String(4), index=True)
    phash_b1: Mapped[str | None] = mapped_column(String(4), index=True)
    phash_b2: Mapped[str | None] = mapped_column(String(4), index=True)
    phash_b3: Mapped[str | None] = mapped_column(String(4), index=True)
    thumb_name: Mapped[str | None] = mapped_column(String(80))  # images: small JPEG preview
    uploaded_by: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    # when the file was erased (its row, size and SHA-256 stay for the record)
    erased_at: Mapped[datetime | None] = mapped_column(TS)


class SupplierCheck(Model):
    """What a card's supplier said, when the case was filed, about one code of its order."""

    __tablename__ = "supplier_checks"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    code_id: Mapped[int] = mapped_column(ForeignKey("card_codes.id"))
    plugin: Mapped[str] = mapped_column(String(100))  # the plugin that asked
    supplier: Mapped[str] = mapped_column(String(60), default="")  # as the plugin names it
    # a Redemption and an UnknownWhy (portal.domain.supplier_checks)
    status: Mapped[str] = mapped_column(String(20))
    why: Mapped[str] = mapped_column(String(20), default="")
    redeemed_at: Mapped[datetime | None] = mapped_column(TS)
    checked_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (
        Index("ix_supplier_checks_case_code_plugin", "case_id", "code_id", "plugin", unique=True),
    )


class Payout(Model):
    """One refund of money along a channel, with its idempotency key for life."""

    __tablename__ = "payouts"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # a PayoutState (portal.domain.payout_states)
    state: Mapped[str] = mapped_column(String(20), default=PayoutState.CREATED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    gateway_reference: Mapped[str] = mapped_column(String(128), default="")
    last_code: Mapped[str] = mapped_column(String(80), default="")
    last_message: Mapped[str] = mapped_column(Text, default="")
    last_raw: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS, index=True)
    expected_arrival_at: Mapped[datetime | None] = mapped_column(TS)
    settled_at: Mapped[datetime | None] = mapped_column(TS)
    exported_at: Mapped[datetime | None] = mapped_column(TS)  # bank: put in a batch file
    late_flagged_at: Mapped[datetime | None] = mapped_column(TS)  # not arrived by expected date
    batch_ref: Mapped[str] = mapped_column(String(40), default="")
    case: Mapped[RefundCase] = relationship()
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount"),
        # a channel's payouts settled on one day: what reconciliation matches a bill against
        Index("ix_payouts_channel_settled", "channel", "settled_at"),
        # a batch-paid channel's payouts sent on a day: what its statement is matched against
        Index("ix_payouts_channel_exported", "channel", "exported_at"),
    )


class Event(Model):
    """Append-only audit trail (database triggers refuse UPDATE and DELETE)."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # transition | applied | evidence | ...
    actor_role: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(120), default="")
    from_state: Mapped[str] = mapped_column(String(20), default="")
    to_state: Mapped[str] = mapped_column(String(20), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    # the hash chain (portal.domain.audit_chain): the chain the event joins, its place there,
    # the previous link's hash and this link's (nullable only for rows older than the chain)
    chain: Mapped[str | None] = mapped_column(String(40))
    chain_seq: Mapped[int | None] = mapped_column(Integer)
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (Index("ix_events_chain_seq", "chain", "chain_seq", unique=True),)


class ChainHead(Model):
    """The last link of each audit chain: appends lock it, seals read it."""

    __tablename__ = "audit_chain_heads"
    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class AuditSeal(Model):
    """A day's seal: the chain heads that moved since the seal before, signed (Ed25519)."""

    __tablename__ = "audit_seals"
    id: Mapped[int] = mapped_column(primary_key=True)
    seal_no: Mapped[int] = mapped_column(Integer, unique=True)
    day: Mapped[str] = mapped_column(String(10), unique=True)  # YYYY-MM-DD, Beijing time
    sealed_at: Mapped[datetime] = mapped_column(TS)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)  # no two seals fork
    seal_hash: Mapped[str] = mapped_column(String(64), unique=True)
    heads_digest: Mapped[str] = mapped_column(String(64))
    head_count: Mapped[int] = mapped_column(Integer)
    payload: Mapped[str] = mapped_column(Text)  # the signed bytes, as text
    signature: Mapped[str] = mapped_column(String(100))  # base64
    public_key: Mapped[str] = mapped_column(String(60))  # base64 of the raw 32 bytes


class AuditSealHead(Model):
    """One chain head a seal names."""

    __tablename__ = "audit_seal_heads"
    seal_id: Mapped[int] = mapped_column(ForeignKey("audit_seals.id"), primary_key=True)
    chain: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    __table_args__ = (Index("ix_audit_seal_heads_chain_seq", "chain", "seq"),)


class Offer(Model):
    """A structured offer in a three-way negotiation: an amount and a note."""

    __tablename__ = "offers"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    by_role: Mapped[str] = mapped_column(String(20))  # buyer | merchant | reviewer
    by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount_fen: Mapped[int] = mapped_column(Fen)
    note: Mapped[str] = mapped_column(Text, default="")
    # an OfferState (portal.domain.offer_states)
    state: Mapped[str] = mapped_column(String(20), default=offer_states.INITIAL)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount"),)


class Freeze(Model):
    """Merchant funds frozen for a disputed case, until the decision releases or uses them."""

    __tablename__ = "freezes"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    # a FreezeState (portal.domain.freeze_states)
    state: Mapped[str] = mapped_column(String(20), default=freeze_states.INITIAL)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(TS)
    __table_args__ = (CheckConstraint("amount_fen > 0", name="amount"),)


class LedgerTransaction(Model):
    """One balanced set of postings (their amounts sum to zero), caused by one business event."""

    __tablename__ = "ledger_transactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(
        String(30)
    )  # payment | settlement | freeze | release | refund | payout | ...
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    memo: Mapped[str] = mapped_column(String(200), default="")
    overdraft: Mapped[bool] = mapped_column(Boolean, default=False)  # explicit, recorded
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    postings: Mapped[list[Posting]] = relationship(order_by="Posting.id")


class Posting(Model):
    """A signed amount in fen on one account; positive means the account holds more."""

    __tablename__ = "ledger_postings"
    id: Mapped[int] = mapped_column(primary_key=True)
    txn_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(60), index=True)
    amount_fen: Mapped[int] = mapped_column(Fen)
    __table_args__ = (CheckConstraint("amount_fen <> 0", name="nonzero"),)


class Ticket(Model):
    """A support ticket (工单) opened from a late case, with the order and case attached."""

    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str] = mapped_column(String(30))  # review_late | refund_late
    # a TicketState (portal.domain.ticket_states)
    state: Mapped[str] = mapped_column(String(20), default=ticket_states.INITIAL)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    case: Mapped[RefundCase] = relationship()
    messages: Mapped[list[TicketMessage]] = relationship(order_by="TicketMessage.id")


class TicketMessage(Model):
    """One message in a ticket's thread."""

    __tablename__ = "ticket_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    author: Mapped[str] = mapped_column(String(120), default="")
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class Notice(Model):
    """An inbox message for one party about a case (also sent by e-mail / plugins by a job)."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(primary_key=True)
    # buyer (by order) | merchant (by merchant id) | staff (reviewers)
    audience: Mapped[str] = mapped_column(String(20))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)  # English msgid, translated when shown
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(TS)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    # the channels this notice reached ("mail", notifier plugin names): a retry after one
    # channel failed sends only through the others, so no buyer gets the same SMS twice
    delivered_via: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        # every page counts the viewer's unread notices (portal.services.messaging.notices);
        # partial in the database (WHERE read_at IS NULL: migration q1_case_lists), see above
        Index(
            "ix_notices_unread_order",
            "audience",
            "order_id",
        ),
        Index(
            "ix_notices_unread_merchant",
            "audience",
            "merchant_id",
        ),
    )


class ApiKey(Model):
    """A merchant's API key: only its SHA-256 is kept, with a short prefix to find and show it."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256 hex of the whole key
    label: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(TS)
    revoked_at: Mapped[datetime | None] = mapped_column(TS)
    merchant: Mapped[Merchant] = relationship()


class IdempotencyRecord(Model):
    """The first answer to a write sent with an ``Idempotency-Key``: a retry gets it again."""

    __tablename__ = "idempotency_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int] = mapped_column(Integer, default=0)  # 0 while the first request runs
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (Index("ix_idempotency_merchant_key", "merchant_id", "key", unique=True),)


class WebhookEndpoint(Model):
    """Where a merchant's shop wants case and payout events, and the secret that signs them."""

    __tablename__ = "webhook_endpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(80))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class WebhookDelivery(Model):
    """One event for one endpoint, written with the event (an outbox) and sent by a job."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str] = mapped_column(Text, default="")
    next_attempt_at: Mapped[datetime | None] = mapped_column(TS, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    endpoint: Mapped[WebhookEndpoint] = relationship()
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_event", "endpoint_id", "event_id", unique=True),
    )


class ChannelSwitch(Model):
    """An operator's switch for one payout channel: a disabled channel receives no payout."""

    __tablename__ = "channel_switches"
    channel_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    changed_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")


class ReconRun(Model):
    """One channel's day of reconciliation: its bill fetched and matched (or why not)."""

    __tablename__ = "recon_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    bill_date: Mapped[date] = mapped_column(Date)  # the Beijing day the bill covers
    # a RunStatus (portal.domain.reconciliation)
    status: Mapped[str] = mapped_column(String(20))
    # the last failure, as a code (missing, refused) and the gateway's or parser's own text
    # (staff only, labelled); empty once a run matched
    detail: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    bill_rows: Mapped[int] = mapped_column(Integer, default=0)
    bill_total_fen: Mapped[int] = mapped_column(Fen, default=0)
    our_rows: Mapped[int] = mapped_column(Integer, default=0)
    our_total_fen: Mapped[int] = mapped_column(Fen, default=0)
    # what the ledger booked out through the channel's account that day (payout entries)
    ledger_total_fen: Mapped[int] = mapped_column(Fen, default=0)
    matched_at: Mapped[datetime | None] = mapped_column(TS)  # the last successful match
    # when a bill still missing (or refused) past the day's deadline was raised to staff
    raised_at: Mapped[datetime | None] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (Index("ix_recon_runs_channel_day", "channel", "bill_date", unique=True),)


class ReconDifference(Model):
    """One difference a run found between the bill and our payouts, until someone resolves it."""

    __tablename__ = "recon_differences"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("recon_runs.id"))
    # a DifferenceKind and a DifferenceState (portal.domain.reconciliation)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), default=reconciliation.INITIAL, index=True)
    refund_no: Mapped[str] = mapped_column(String(64))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"), index=True)
    gateway_reference: Mapped[str] = mapped_column(String(128), default="")
    bill_amount_fen: Mapped[int | None] = mapped_column(Fen)
    our_amount_fen: Mapped[int | None] = mapped_column(Fen)
    bill_at: Mapped[datetime | None] = mapped_column(TS)
    our_at: Mapped[datetime | None] = mapped_column(TS)
    our_state: Mapped[str] = mapped_column(String(20), default="")
    bill_count: Mapped[int] = mapped_column(Integer, default=0)
    found_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(TS)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_by: Mapped[str] = mapped_column(String(120), default="")
    # a ResolvedHow: a person's note, or a later run no longer found it
    resolved_how: Mapped[str] = mapped_column(String(20), default="")
    resolution_note: Mapped[str] = mapped_column(Text, default="")  # a person's words
    __table_args__ = (
        Index("ix_recon_differences_run_kind_no", "run_id", "kind", "refund_no", unique=True),
    )


class StatementLine(Model):
    """A line of an imported bank statement, kept as the channel's bill of its booking day."""

    __tablename__ = "statement_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    refund_no: Mapped[str] = mapped_column(String(64))  # the end-to-end reference
    amount_fen: Mapped[int] = mapped_column(Fen)
    # a ResultStatus (portal.plugins.channels): succeeded when booked, failed when returned
    status: Mapped[str] = mapped_column(String(20))
    booked_on: Mapped[str] = mapped_column(String(10), default="")  # the entry's booking date
    # the bank's reference of the entry (AcctSvcrRef): tells two bookings of one transfer apart
    entry_ref: Mapped[str] = mapped_column(String(35), default="")
    imported_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (
        Index(
            "ix_statement_lines_once",
            "channel",
            "refund_no",
            "status",
            "booked_on",
            "entry_ref",
            unique=True,
        ),
        Index("ix_statement_lines_channel_imported", "channel", "imported_at"),
        # a day's bookings: the bank's bill of that day
        Index("ix_statement_lines_channel_booked", "channel", "booked_on"),
    )


class RiskRuleRow(Model):
    """An operator's thresholds for one risk signal (no row: the default rule)."""

    __tablename__ = "risk_rules"
    signal: Mapped[str] = mapped_column(String(40), primary_key=True)
    review_at: Mapped[int | None] = mapped_column(BigInteger)
    high_at: Mapped[int | None] = mapped_column(BigInteger)
    changed_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120), default="")


class WatchEntry(Model):
    """A contact or payer id on the watch list until it expires (or is removed)."""

    __tablename__ = "risk_watch_list"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))  # a WatchKind (portal.domain.risk)
    value: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)  # a person's words
    expires_at: Mapped[datetime] = mapped_column(TS)
    added_by: Mapped[str] = mapped_column(String(120))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(TS)
    removed_by: Mapped[str] = mapped_column(String(120), default="")
    __table_args__ = (Index("ix_risk_watch_list_kind_value", "kind", "value"),)


class ShopFastLane(Model):
    """A shop's fast lane: its limit (set by an operator) and whether the merchant opted out."""

    __tablename__ = "shop_fast_lane"
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    limit_fen: Mapped[int | None] = mapped_column(Fen)  # None: the platform's default
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    changed_by: Mapped[str] = mapped_column(String(120), default="")
    __table_args__ = (CheckConstraint("limit_fen IS NULL OR limit_fen >= 0", name="limit"),)


class OrderSourceCursor(Model):
    """How far the portal has read one order source: the last position taken in, committed
    with the orders it covers (compared and set, so two readers cannot both move it)."""

    __tablename__ = "order_source_cursors"
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    after_updated: Mapped[str | None] = mapped_column(String(40))
    after_row_id: Mapped[int] = mapped_column(BigInteger, default=0)
    started: Mapped[bool] = mapped_column(Boolean, default=False)
    moved_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class OrderSourceProblem(Model):
    """A row of an order source not taken in, and why (a code with parameters); removed
    when a later read takes the order in."""

    __tablename__ = "order_source_problems"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[int] = mapped_column(BigInteger)
    order_no: Mapped[str] = mapped_column(String(200), default="")
    problem: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    __table_args__ = (Index("ix_order_source_problems_row", "source_id", "row_id", unique=True),)


class EventErasure(Model):
    """An event whose buyer's words were blanked by an erasure: the append-only trigger lets
    exactly that change through for the events listed here (the receipt in the event's chain
    is what verify reads)."""

    __tablename__ = "event_erasures"
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(TS, default=utcnow)


class LegalHold(Model):
    """A supervisor's legal hold on a case: its order's personal data is not erased while the
    hold stands. Set and lifted with a reason, each recorded in the case's chain."""

    __tablename__ = "legal_holds"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)  # a person's words
    set_by: Mapped[str] = mapped_column(String(120))
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    set_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    lifted_at: Mapped[datetime | None] = mapped_column(TS)
    lifted_by: Mapped[str] = mapped_column(String(120), default="")
    lift_reason: Mapped[str] = mapped_column(Text, default="")


class ErasureRequest(Model):
    """A buyer's request to erase their personal data on an order, answered by staff by its
    deadline (done or refused with a reason)."""

    __tablename__ = "erasure_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    # a RequestState (portal.domain.privacy)
    state: Mapped[str] = mapped_column(String(20), index=True)
    due_at: Mapped[datetime] = mapped_column(TS)
    created_at: Mapped[datetime] = mapped_column(TS, default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(TS)
    answered_by: Mapped[str] = mapped_column(String(120), default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    refusal: Mapped[str] = mapped_column(Text, default="")  # a person's words
    case: Mapped[RefundCase] = relationship()


# The dashboards' two tables are written and read only set-based (INSERT ... SELECT, sums),
# never as objects: plain tables, not mapped classes, which cost every worker several times
# the memory of a plain table for each column.

#: One Beijing day's counts for a (shop, product, reason, channel): what the dashboards sum.
#: Rebuilt set-based by ``portal.services.reports.rollups`` (never edited row by row);
#: durations are counts per fixed bucket (``portal.domain.rollups.EDGES_MINUTES``), named
#: ``review_b0`` .. ``payout_b7``.
daily_rollups = Table(
    "daily_rollups",
    Model.metadata,
    Column("day", String(10), primary_key=True),  # YYYY-MM-DD, Beijing
    Column("merchant_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),  # 0: none known
    Column("reason", String(30), primary_key=True),  # "": paid orders
    Column("channel", String(40), primary_key=True),  # "": none known
    *(
        Column(name, Fen if name == "refunded_fen" else Integer, nullable=False, default=0)
        for name in (
            "paid",  # orders paid
            "filed",  # cases filed
            "refunded",  # approvals
            "refunded_fen",  # approved amounts
            "rejected",  # rejections (appeals' too)
            "decided",  # first decisions (review_b*)
            # of them, made before the case's review deadline (working days, the calendar)
            "decided_on_time",
            "automatic",  # automatic approvals
            "auto_reversed",  # their refunds undone later
            "appeals",
            "overturned",  # appeals decided for the buyer
            "answered",  # merchants' first answers
            "arrived",  # payouts that arrived
            "arrived_on_time",  # by the expected time
            # buyers who came back (paid at the same shop within COME_BACK_DAYS): after an
            # approval, after a rejection, and after an order on which no case was ever filed
            "refunded_back",
            "rejected_back",
            "unasked",
            "unasked_back",
        )
    ),
    *(
        Column(f"{duration}_b{i}", Integer, nullable=False, default=0)
        for duration in rollups.DURATIONS
        for i in range(rollups.BUCKETS)
    ),
    Index("ix_daily_rollups_shop_day", "merchant_id", "day"),
)

#: The open cases by age since filing, per shop, product and payment route (``merchant_id``
#: 0: the platform's total, the count's marker), as counted at ``taken_at`` by the minute's
#: job (``portal.services.reports.backlog``).
backlog_snapshots = Table(
    "backlog_snapshots",
    Model.metadata,
    Column("merchant_id", Integer, primary_key=True),
    Column("product_id", Integer, primary_key=True),  # 0: none known
    Column("channel", String(40), primary_key=True),  # "": none known
    Column("taken_at", TS, nullable=False),
    Column("age_0", Integer, nullable=False, default=0),  # under 1 day
    Column("age_1", Integer, nullable=False, default=0),  # 1 to 3 days
    Column("age_2", Integer, nullable=False, default=0),  # 3 to 7 days
    Column("age_3", Integer, nullable=False, default=0),  # 7 to 30 days
    Column("age_4", Integer, nullable=False, default=0),  # 30 days or more
)


# what a day's rollup reads (portal.services.reports.rollups), each on its own moment
Index("ix_orders_paid_at", Order.paid_at)
Index("ix_refund_cases_created_at", RefundCase.created_at)
Index("ix_events_created_at", Event.created_at)
Index("ix_payouts_settled_at", Payout.settled_at)
# whether a buyer came back to a shop: the buyer's later orders there, by payment time
Index(
    "ix_orders_contact_shop_paid",
    func.lower(func.trim(Order.buyer_contact)),
    Order.merchant_id,
    Order.paid_at,
)
# the open backlog by age, the platform's and a shop's: partial in the database (WHERE
# open_order_id IS NOT NULL: migration t23_daily_rollups), as the open lists' indexes are
Index("ix_refund_cases_open_created", RefundCase.created_at, RefundCase.id)
Index(
    "ix_refund_cases_open_shop_created",
    RefundCase.merchant_id,
    RefundCase.product_id,
    RefundCase.channel,
    RefundCase.created_at,
)
