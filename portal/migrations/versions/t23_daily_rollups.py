"""Adds refund_cases.product_id and .channel (the order's product and payment route, copied
when a case is filed, filled for the cases there), daily_rollups (a Beijing day's counts per
shop, product, reason and channel, read by the dashboards), backlog_snapshots (the open cases
by age, per shop, product and payment route, counted each minute) and the indexes a day's
rebuild and the open backlog by age read: orders by payment time, cases by filing time (and
the open ones, per shop, product and route), events by time, payouts by arrival, and a
buyer's later orders at a shop (whether the buyer came back).

On PostgreSQL the indexes are built with CREATE INDEX CONCURRENTLY (outside the migration's
transaction), so large tables keep taking writes meanwhile.

Revision ID: t23_daily_rollups
Revises: r28_bank_recon
Create Date: 2026-12-06 22:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "t23_daily_rollups"
down_revision = "r28_bank_recon"
branch_labels = None
depends_on = None

OPEN = "open_order_id IS NOT NULL"
#: (name, table, columns, partial condition)
INDEXES = [
    ("ix_orders_paid_at", "orders", ["paid_at"], None),
    ("ix_refund_cases_created_at", "refund_cases", ["created_at"], None),
    ("ix_events_created_at", "events", ["created_at"], None),
    ("ix_payouts_settled_at", "payouts", ["settled_at"], None),
    (
        "ix_orders_contact_shop_paid",
        "orders",
        [sa.text("lower(trim(buyer_contact))"), "merchant_id", "paid_at"],
        None,
    ),
    ("ix_refund_cases_open_created", "refund_cases", ["created_at", "id"], OPEN),
    (
        "ix_refund_cases_open_shop_created",
        "refund_cases",
        ["merchant_id", "product_id", "channel", "created_at"],
        OPEN,
    ),
]
COUNTS = (
    "paid filed refunded rejected decided decided_on_time automatic auto_reversed appeals overturned"
    " answered arrived arrived_on_time refunded_back rejected_back unasked unasked_back"
).split() + [f"{d}_b{i}" for d in ("review", "answer", "payout") for i in range(8)]


def upgrade():
    # a case's product and payment route, copied from its order when filed (the open backlog
    # by age is counted per shop, product and route from refund_cases alone)
    op.add_column(
        "refund_cases", sa.Column("product_id", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column(
        "refund_cases", sa.Column("channel", sa.String(40), nullable=False, server_default="")
    )
    op.execute(
        "UPDATE refund_cases SET"
        " product_id = COALESCE((SELECT o.product_id FROM orders o"
        " WHERE o.id = refund_cases.order_id), 0),"
        " channel = COALESCE((SELECT p.channel FROM payments p"
        " WHERE p.order_id = refund_cases.order_id), '')"
    )
    op.create_table(
        "daily_rollups",
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), primary_key=True),
        sa.Column("reason", sa.String(30), primary_key=True),
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False, server_default="0"),
        *(sa.Column(c, sa.Integer(), nullable=False, server_default="0") for c in COUNTS),
    )
    op.create_index("ix_daily_rollups_shop_day", "daily_rollups", ["merchant_id", "day"])
    op.create_table(
        "backlog_snapshots",
        sa.Column("merchant_id", sa.Integer(), primary_key=True),
        sa.Column("product_id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(40), primary_key=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        *(sa.Column(f"age_{i}", sa.Integer(), nullable=False, server_default="0") for i in range(5)),
    )
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for name, table, columns, where in INDEXES:
                op.create_index(
                    name,
                    table,
                    columns,
                    postgresql_where=sa.text(where) if where else None,
                    postgresql_concurrently=True,
                    if_not_exists=True,
                )
    else:
        for name, table, columns, where in INDEXES:
            op.create_index(name, table, columns, sqlite_where=sa.text(where) if where else None)


def downgrade():
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("backlog_snapshots")
    op.drop_index("ix_daily_rollups_shop_day", table_name="daily_rollups")
    op.drop_table("daily_rollups")
    for column in ("channel", "product_id"):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_column("refund_cases", column)
        else:  # SQLite 3.35+ drops a column in place
            op.execute(f"ALTER TABLE refund_cases DROP COLUMN {column}")
