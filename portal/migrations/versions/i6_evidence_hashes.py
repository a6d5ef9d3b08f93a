"""Adds evidence.phash (perceptual hash of images) and evidence.thumb_name (preview file).

Revision ID: i6_evidence_hashes
Revises: i8_channel_switches
Create Date: 2026-12-01 12:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = "i6_evidence_hashes"
down_revision = "i8_channel_switches"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.add_column(sa.Column("phash", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("thumb_name", sa.String(length=80), nullable=True))
        batch.create_index("ix_evidence_phash", ["phash"], unique=False)


def downgrade():
    with op.batch_alter_table("evidence") as batch:
        batch.drop_index("ix_evidence_phash")
        batch.drop_column("thumb_name")
        batch.drop_column("phash")
