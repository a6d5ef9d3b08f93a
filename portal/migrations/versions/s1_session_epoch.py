"""Adds users.session_epoch: raising it ends every session cookie of that staff login.

Revision ID: s1_session_epoch
Revises: i6_evidence_hashes
Create Date: 2026-12-05 19:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "s1_session_epoch"
down_revision = "i6_evidence_hashes"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_epoch")
