"""Adds the bank's entry reference to kept statement lines (two bookings of one transfer are
two lines; the same entry imported twice stays one), an index on their booking day (the
bank's bill of a day), and one on payouts' export time (the payouts a statement day is
matched against).

On PostgreSQL the payouts index is built with CREATE INDEX CONCURRENTLY (outside the
migration's transaction), so a large payouts table keeps taking writes meanwhile.

Revision ID: r28_bank_recon
Revises: r27_supplier_checks
Create Date: 2026-12-06 22:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "r28_bank_recon"
down_revision = "r27_supplier_checks"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("statement_lines") as batch:
        batch.add_column(
            sa.Column("entry_ref", sa.String(length=35), nullable=False, server_default="")
        )
    op.drop_index("ix_statement_lines_once", table_name="statement_lines")
    op.create_index(
        "ix_statement_lines_once",
        "statement_lines",
        ["channel", "refund_no", "status", "booked_on", "entry_ref"],
        unique=True,
    )
    op.create_index(
        "ix_statement_lines_channel_booked", "statement_lines", ["channel", "booked_on"]
    )
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_payouts_channel_exported",
                "payouts",
                ["channel", "exported_at"],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index("ix_payouts_channel_exported", "payouts", ["channel", "exported_at"])


def downgrade():
    op.drop_index("ix_payouts_channel_exported", table_name="payouts")
    op.drop_index("ix_statement_lines_channel_booked", table_name="statement_lines")
    op.drop_index("ix_statement_lines_once", table_name="statement_lines")
    op.create_index(
        "ix_statement_lines_once",
        "statement_lines",
        ["channel", "refund_no", "status", "booked_on"],
        unique=True,
    )
    with op.batch_alter_table("statement_lines") as batch:
        batch.drop_column("entry_ref")
