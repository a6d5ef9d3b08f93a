"""Adds evidence.phash_b0..phash_b3: the perceptual hash in four indexed bands of 16 bits, so
that near-duplicate pictures are found on an index (portal.domain.picture_likeness), and fills
them for the pictures already stored.

Revision ID: r27_evidence_phash_bands
Revises: p1_privacy
Create Date: 2026-12-06 20:00:00

"""

import sqlalchemy as sa
from alembic import op


revision = "r27_evidence_phash_bands"
down_revision = "p1_privacy"
branch_labels = None
depends_on = None

BANDS = 4


def upgrade():
    with op.batch_alter_table("evidence") as batch:
        for i in range(BANDS):
            batch.add_column(sa.Column(f"phash_b{i}", sa.String(length=4), nullable=True))
    for i in range(BANDS):
        op.create_index(f"ix_evidence_phash_b{i}", "evidence", [f"phash_b{i}"], unique=False)
    evidence = sa.table(
        "evidence",
        sa.column("phash", sa.String),
        *[sa.column(f"phash_b{i}", sa.String) for i in range(BANDS)],
    )
    op.execute(
        evidence.update()
        .where(sa.func.length(evidence.c.phash) == 16)
        .values(
            {f"phash_b{i}": sa.func.substr(evidence.c.phash, 1 + 4 * i, 4) for i in range(BANDS)}
        )
    )


def downgrade():
    for i in range(BANDS):
        op.drop_index(f"ix_evidence_phash_b{i}", table_name="evidence")
    with op.batch_alter_table("evidence") as batch:
        for i in range(BANDS):
            batch.drop_column(f"phash_b{i}")
