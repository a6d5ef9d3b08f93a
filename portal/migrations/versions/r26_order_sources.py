"""Adds order_source_cursors and order_source_problems: reading orders from a shop's database.

Revision ID: r26_order_sources
Revises: r24_audit_chain
Create Date: 2026-12-06 06:10:00

"""

import sqlalchemy as sa
from alembic import op


revision = "r26_order_sources"
down_revision = "r24_audit_chain"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "order_source_cursors",
        sa.Column("source_id", sa.String(64), primary_key=True),
        sa.Column("after_updated", sa.String(40), nullable=True),
        sa.Column("after_row_id", sa.BigInteger(), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "order_source_problems",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("row_id", sa.BigInteger(), nullable=False),
        sa.Column("order_no", sa.String(200), nullable=False),
        sa.Column("problem", sa.String(40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_order_source_problems_row",
        "order_source_problems",
        ["source_id", "row_id"],
        unique=True,
    )


def downgrade():
    op.drop_index("ix_order_source_problems_row", table_name="order_source_problems")
    op.drop_table("order_source_problems")
    op.drop_table("order_source_cursors")
