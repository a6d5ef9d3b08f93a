"""Case lists that scale: the shop and the assigned reviewer on each case, and the indexes
the queue, a shop's list, the staff search and the unread-notice count read.

On PostgreSQL every index is built with CREATE INDEX CONCURRENTLY (outside the migration's
transaction), so a large refund_cases or orders table keeps taking writes meanwhile.

Revision ID: q1_case_lists
Revises: x1_notice_channels
Create Date: 2026-12-06 03:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "q1_case_lists"
down_revision = "x1_notice_channels"
branch_labels = None
depends_on = None

OPEN = "open_order_id IS NOT NULL"
UNREAD = "read_at IS NULL"
#: (name, table, columns, partial condition)
INDEXES = [
    ("ix_refund_cases_open_deadline", "refund_cases", ["deadline_at", "id"], OPEN),
    (
        "ix_refund_cases_open_shop_deadline",
        "refund_cases",
        ["merchant_id", "deadline_at", "id"],
        OPEN,
    ),
    (
        "ix_refund_cases_open_assignee_deadline",
        "refund_cases",
        ["assignee_id", "deadline_at", "id"],
        OPEN,
    ),
    ("ix_orders_buyer_contact", "orders", ["buyer_contact"], None),
    ("ix_notices_unread_order", "notices", ["audience", "order_id"], UNREAD),
    ("ix_notices_unread_merchant", "notices", ["audience", "merchant_id"], UNREAD),
]


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    pg = _postgres()
    op.add_column("refund_cases", sa.Column("merchant_id", sa.Integer(), nullable=True))
    op.add_column("refund_cases", sa.Column("assignee_id", sa.Integer(), nullable=True))
    op.add_column(
        "refund_cases", sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True)
    )
    # every existing case gets its order's shop (set-based: one statement for any size)
    op.execute(
        "UPDATE refund_cases SET merchant_id ="
        " (SELECT orders.merchant_id FROM orders WHERE orders.id = refund_cases.order_id)"
    )
    if pg:  # SQLite cannot add these to an existing table without copying it
        op.alter_column("refund_cases", "merchant_id", nullable=False)
        op.create_foreign_key(
            "fk_refund_cases_merchant_id_merchants",
            "refund_cases",
            "merchants",
            ["merchant_id"],
            ["id"],
        )
        op.create_foreign_key(
            "fk_refund_cases_assignee_id_users", "refund_cases", "users", ["assignee_id"], ["id"]
        )
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
    pg = _postgres()
    for name, table, _columns, _where in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    if pg:
        op.drop_constraint("fk_refund_cases_assignee_id_users", "refund_cases")
        op.drop_constraint("fk_refund_cases_merchant_id_merchants", "refund_cases")
        op.drop_column("refund_cases", "assigned_at")
        op.drop_column("refund_cases", "assignee_id")
        op.drop_column("refund_cases", "merchant_id")
    else:  # SQLite 3.35+ drops a column in place (a batch copy would trip the foreign keys)
        for column in ("assigned_at", "assignee_id", "merchant_id"):
            op.execute(f"ALTER TABLE refund_cases DROP COLUMN {column}")
