"""Adds supplier_checks: what a card's supplier said, when a case was filed, about each code
of its order (asked through the check_supplier_redemption plugin hook).

Revision ID: r27_supplier_checks
Revises: r27_evidence_phash_bands
Create Date: 2026-12-06 20:10:00

"""

import sqlalchemy as sa
from alembic import op


revision = "r27_supplier_checks"
down_revision = "r27_evidence_phash_bands"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "supplier_checks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("refund_cases.id"), nullable=False),
        sa.Column("code_id", sa.Integer(), sa.ForeignKey("card_codes.id"), nullable=False),
        sa.Column("plugin", sa.String(100), nullable=False),
        sa.Column("supplier", sa.String(60), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("why", sa.String(20), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_supplier_checks_case_id", "supplier_checks", ["case_id"])
    op.create_index(
        "ix_supplier_checks_case_code_plugin",
        "supplier_checks",
        ["case_id", "code_id", "plugin"],
        unique=True,
    )


def downgrade():
    op.drop_index("ix_supplier_checks_case_code_plugin", table_name="supplier_checks")
    op.drop_index("ix_supplier_checks_case_id", table_name="supplier_checks")
    op.drop_table("supplier_checks")
