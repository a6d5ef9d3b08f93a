"""Adds orders.password_source: the order source whose own query password a lookup checks.

Revision ID: c26_password_source
Revises: r27_supplier_checks
Create Date: 2026-12-06 22:40:00

"""

import sqlalchemy as sa
from alembic import op


revision = "c26_password_source"
down_revision = "r27_supplier_checks"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("orders", sa.Column("password_source", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("password_source")
