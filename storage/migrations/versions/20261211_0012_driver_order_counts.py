"""Completed orders per driver, kept by the import, instead of counting the orders table

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-11

A rule with a minimum number of orders needs each paying driver's completed orders. Counting
them read every stored order of a batch's drivers, more the longer they drive, through
``ix_orders_driver_status``, which also took a random leaf page per stored order. Nothing
else uses that index; the count is one row per driver, updated in the transaction that
stores or cancels the orders.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "driver_order_counts",
        sa.Column("driver_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("driver_id", name="pk_driver_order_counts"),
    )
    op.execute(
        "INSERT INTO driver_order_counts (driver_id, completed)"
        " SELECT driver_id, count(*) FROM orders WHERE status = 'completed' GROUP BY driver_id"
    )
    op.drop_index("ix_orders_driver_status", table_name="orders")


def downgrade() -> None:
    op.create_index("ix_orders_driver_status", "orders", ["driver_id", "status"])
    op.drop_table("driver_order_counts")
