"""Daily reconciliation: a run per channel and bill day, the differences it found, the lines
of imported bank statements (the bank channel's bill), and the index on payouts that finds a
channel's payouts settled on a day.

On PostgreSQL the payouts index is built with CREATE INDEX CONCURRENTLY (outside the
migration's transaction), so a large payouts table keeps taking writes meanwhile.

Revision ID: r22_reconciliation
Revises: q1_case_lists
Create Date: 2026-12-06 05:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "r22_reconciliation"
down_revision = "q1_case_lists"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade():
    op.create_table(
        "recon_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("bill_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bill_rows", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("bill_total_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("our_rows", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("our_total_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("ledger_total_fen", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("matched_at", TS, nullable=True),
        sa.Column("raised_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recon_runs"),
    )
    op.create_index("ix_recon_runs_channel_day", "recon_runs", ["channel", "bill_date"], unique=True)
    op.create_table(
        "recon_differences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("refund_no", sa.String(length=64), nullable=False),
        sa.Column("payout_id", sa.Integer(), nullable=True),
        sa.Column("gateway_reference", sa.String(length=128), nullable=False, server_default=""),
        sa.Column("bill_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("our_amount_fen", sa.BigInteger(), nullable=True),
        sa.Column("bill_at", TS, nullable=True),
        sa.Column("our_at", TS, nullable=True),
        sa.Column("our_state", sa.String(length=20), nullable=False, server_default=""),
        sa.Column("bill_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("found_at", TS, nullable=False),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.String(length=120), nullable=False, server_default=""),
        sa.Column("resolved_how", sa.String(length=20), nullable=False, server_default=""),
        sa.Column("resolution_note", sa.Text(), nullable=False, server_default=""),
        sa.ForeignKeyConstraint(
            ["run_id"], ["recon_runs.id"], name="fk_recon_differences_run_id_recon_runs"
        ),
        sa.ForeignKeyConstraint(
            ["payout_id"], ["payouts.id"], name="fk_recon_differences_payout_id_payouts"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["users.id"], name="fk_recon_differences_resolved_by_id_users"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_recon_differences"),
    )
    op.create_index(
        "ix_recon_differences_run_kind_no",
        "recon_differences",
        ["run_id", "kind", "refund_no"],
        unique=True,
    )
    op.create_index("ix_recon_differences_state", "recon_differences", ["state"])
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("refund_no", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("booked_on", sa.String(length=10), nullable=False, server_default=""),
        sa.Column("imported_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_statement_lines"),
    )
    op.create_index(
        "ix_statement_lines_once",
        "statement_lines",
        ["channel", "refund_no", "status", "booked_on"],
        unique=True,
    )
    op.create_index(
        "ix_statement_lines_channel_imported", "statement_lines", ["channel", "imported_at"]
    )
    op.create_index("ix_recon_differences_payout_id", "recon_differences", ["payout_id"])
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(
                "ix_payouts_channel_settled",
                "payouts",
                ["channel", "settled_at"],
                postgresql_concurrently=True,
                if_not_exists=True,
            )
    else:
        op.create_index("ix_payouts_channel_settled", "payouts", ["channel", "settled_at"])


def downgrade():
    op.drop_index("ix_payouts_channel_settled", table_name="payouts")
    op.drop_index("ix_statement_lines_channel_imported", table_name="statement_lines")
    op.drop_index("ix_statement_lines_once", table_name="statement_lines")
    op.drop_table("statement_lines")
    op.drop_index("ix_recon_differences_payout_id", table_name="recon_differences")
    op.drop_index("ix_recon_differences_state", table_name="recon_differences")
    op.drop_index("ix_recon_differences_run_kind_no", table_name="recon_differences")
    op.drop_table("recon_differences")
    op.drop_index("ix_recon_runs_channel_day", table_name="recon_runs")
    op.drop_table("recon_runs")
