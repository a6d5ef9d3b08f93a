"""Order numbers are unique per shop (merchant, order_no), not across shops.

Revision ID: i9_order_no_per_shop
Revises: s1_session_epoch
Create Date: 2026-12-05 20:30:00

"""

from alembic import op

revision = "i9_order_no_per_shop"
down_revision = "s1_session_epoch"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.drop_constraint("uq_orders_order_no", type_="unique")
        batch.create_index("ix_orders_merchant_order_no", ["merchant_id", "order_no"], unique=True)
        batch.create_index("ix_orders_order_no", ["order_no"], unique=False)


def downgrade():
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_order_no")
        batch.drop_index("ix_orders_merchant_order_no")
        batch.create_unique_constraint("uq_orders_order_no", ["order_no"])
