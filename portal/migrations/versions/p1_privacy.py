"""Personal data by the minimum: when an order's personal data and an evidence file were
erased, the events whose buyer's words an erasure blanked (the append-only trigger now lets
exactly that change through for them), supervisors' legal holds and buyers' erasure requests.

Revision ID: p1_privacy
Revises: r26_order_sources
Create Date: 2026-12-06 20:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "p1_privacy"
down_revision = "r26_order_sources"
branch_labels = None
depends_on = None

#: the event columns an erasure leaves as they are (all but ``reason``)
KEPT = (
    "id",
    "case_id",
    "order_id",
    "payout_id",
    "kind",
    "actor_role",
    "actor_id",
    "actor_label",
    "from_state",
    "to_state",
    "data",
    "created_at",
    "chain",
    "chain_seq",
    "prev_hash",
    "hash",
)
SQLITE_OLD = (
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events "
    "BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
)
SQLITE_NEW = (
    "CREATE TRIGGER events_no_update BEFORE UPDATE ON events WHEN NOT ("
    "EXISTS (SELECT 1 FROM event_erasures WHERE event_erasures.event_id = OLD.id) "
    "AND NEW.reason = '' AND "
    + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in KEPT)
    + ") BEGIN SELECT RAISE(ABORT, 'events are append-only'); END"
)
PG_OLD = (
    "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'events are append-only'; END $$"
)
PG_NEW = (
    "CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN "
    "IF TG_OP = 'UPDATE' "
    "AND EXISTS (SELECT 1 FROM event_erasures WHERE event_erasures.event_id = OLD.id) "
    "AND NEW.reason = '' "
    "AND (to_jsonb(NEW) - 'reason') = (to_jsonb(OLD) - 'reason') THEN RETURN NEW; END IF; "
    "RAISE EXCEPTION 'events are append-only'; "
    "END $$"
)


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _trigger(old: bool) -> None:
    if _postgres():
        op.execute(PG_OLD if old else PG_NEW)
    else:
        op.execute("DROP TRIGGER events_no_update")
        op.execute(SQLITE_OLD if old else SQLITE_NEW)


def upgrade():
    # SQLite 3.35+ adds a column in place (a batch copy would lose the events triggers)
    op.add_column("orders", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("evidence", sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "event_erasures",
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_event_erasures_event_id_events")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_event_erasures")),
    )
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(120), nullable=False),
        sa.Column("set_by_id", sa.Integer(), nullable=True),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sa.String(120), nullable=False),
        sa.Column("lift_reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["refund_cases.id"], name=op.f("fk_legal_holds_case_id_refund_cases")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_legal_holds_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["set_by_id"], ["users.id"], name=op.f("fk_legal_holds_set_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index("ix_legal_holds_case_id", "legal_holds", ["case_id"])
    op.create_index("ix_legal_holds_order_id", "legal_holds", ["order_id"])
    op.create_table(
        "erasure_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_by", sa.String(120), nullable=False),
        sa.Column("answered_by_id", sa.Integer(), nullable=True),
        sa.Column("refusal", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["refund_cases.id"], name=op.f("fk_erasure_requests_case_id_refund_cases")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_erasure_requests_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["answered_by_id"], ["users.id"], name=op.f("fk_erasure_requests_answered_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_requests")),
    )
    op.create_index("ix_erasure_requests_case_id", "erasure_requests", ["case_id"])
    op.create_index("ix_erasure_requests_order_id", "erasure_requests", ["order_id"])
    op.create_index("ix_erasure_requests_state", "erasure_requests", ["state"])
    _trigger(old=False)


def downgrade():
    _trigger(old=True)
    op.drop_table("erasure_requests")
    op.drop_table("legal_holds")
    op.drop_table("event_erasures")
    if _postgres():
        op.drop_column("evidence", "erased_at")
        op.drop_column("orders", "erased_at")
    else:
        op.execute("ALTER TABLE evidence DROP COLUMN erased_at")
        op.execute("ALTER TABLE orders DROP COLUMN erased_at")
