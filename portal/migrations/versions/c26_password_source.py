"""Adds orders.password_source: the order source whose own query password a lookup checks.

Revision ID: c26_password_source
Revises: t23_daily_rollups
Create Date: 2026-12-06 22:40:00

"""

import sqlalchemy as sa
from alembic import op


revision = "c26_password_source"
down_revision = "t23_daily_rollups"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("password_source", sa.String(64), nullable=True))


def downgrade():
    # a plain DROP COLUMN (SQLite 3.35+ too): a batch copy of orders would trip the foreign
    # keys that point at it
    op.drop_column("orders", "password_source")
