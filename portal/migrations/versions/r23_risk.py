"""Risk: the level and signals assessed on each case, the address an application came from,
the payer id on payments, the operator's rules, the watch list and each shop's fast lane.

Columns are added with server defaults (no rewrite of existing rows on PostgreSQL 11+);
the two new indexes are built CONCURRENTLY on PostgreSQL.

Revision ID: r23_risk
Revises: r22_reconciliation
Create Date: 2026-12-06 05:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "r23_risk"
down_revision = "r22_reconciliation"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
INDEXES = [
    ("ix_payments_payer_id", "payments", ["payer_id"]),
    ("ix_orders_contact_normal", "orders", [sa.text("lower(trim(buyer_contact))")]),
    ("ix_refund_cases_address_created", "refund_cases", ["applicant_address", "created_at"]),
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    op.add_column(
        "refund_cases",
        sa.Column("applicant_address", sa.String(45), nullable=False, server_default=""),
    )
    op.add_column(
        "refund_cases", sa.Column("risk_level", sa.String(10), nullable=False, server_default="")
    )
    op.add_column("refund_cases", sa.Column("risk_signals", sa.JSON(), nullable=True))
    op.add_column(
        "payments", sa.Column("payer_id", sa.String(64), nullable=False, server_default="")
    )
    op.create_table(
        "risk_rules",
        sa.Column("signal", sa.String(40), nullable=False),
        sa.Column("review_at", sa.BigInteger(), nullable=True),
        sa.Column("high_at", sa.BigInteger(), nullable=True),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("signal", name="pk_risk_rules"),
    )
    op.create_table(
        "risk_watch_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("value", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("added_by", sa.String(120), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("removed_at", TS, nullable=True),
        sa.Column("removed_by", sa.String(120), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"], ["users.id"], name="fk_risk_watch_list_added_by_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_risk_watch_list"),
    )
    op.create_index("ix_risk_watch_list_kind_value", "risk_watch_list", ["kind", "value"])
    op.create_table(
        "shop_fast_lane",
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("limit_fen", sa.BigInteger(), nullable=True),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("changed_at", TS, nullable=False),
        sa.Column("changed_by", sa.String(120), nullable=False),
        sa.CheckConstraint("limit_fen IS NULL OR limit_fen >= 0", name="ck_shop_fast_lane_limit"),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name="fk_shop_fast_lane_merchant_id_merchants"
        ),
        sa.PrimaryKeyConstraint("merchant_id", name="pk_shop_fast_lane"),
    )
    if _postgres():
        with op.get_context().autocommit_block():
            for name, table, columns in INDEXES:
                op.create_index(
                    name, table, columns, postgresql_concurrently=True, if_not_exists=True
                )
    else:
        for name, table, columns in INDEXES:
            op.create_index(name, table, columns)


def downgrade():
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("shop_fast_lane")
    op.drop_index("ix_risk_watch_list_kind_value", table_name="risk_watch_list")
    op.drop_table("risk_watch_list")
    op.drop_table("risk_rules")
    if _postgres():
        op.drop_column("payments", "payer_id")
        for column in ("risk_signals", "risk_level", "applicant_address"):
            op.drop_column("refund_cases", column)
    else:  # SQLite 3.35+ drops a column in place
        op.execute("ALTER TABLE payments DROP COLUMN payer_id")
        for column in ("risk_signals", "risk_level", "applicant_address"):
            op.execute(f"ALTER TABLE refund_cases DROP COLUMN {column}")
