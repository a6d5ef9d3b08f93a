"""Adds channel_switches: operators enable or disable a payout channel.

Revision ID: i8_channel_switches
Revises: i7_api_webhooks
Create Date: 2026-12-01 10:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "i8_channel_switches"
down_revision = "i7_api_webhooks"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "channel_switches",
        sa.Column("channel_id", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=120), nullable=False, server_default=""),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.PrimaryKeyConstraint("channel_id"),
    )


def downgrade():
    op.drop_table("channel_switches")
