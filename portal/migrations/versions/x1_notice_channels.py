"""Adds notices.delivered_via: the channels (mail, each notifier plugin) a notice has reached.

Revision ID: x1_notice_channels
Revises: w1_decision_notes
Create Date: 2026-12-06 03:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "x1_notice_channels"
down_revision = "w1_decision_notes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("notices") as batch:
        batch.add_column(sa.Column("delivered_via", sa.JSON(), nullable=False, server_default="[]"))


def downgrade():
    with op.batch_alter_table("notices") as batch:
        batch.drop_column("delivered_via")
