"""bonus ledger: orders, append-only ledger, balances summary, payout requests

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=64), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("price_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price_kopecks >= 0", name=op.f("ck_orders_price_not_negative")),
        sa.ForeignKeyConstraint(["driver_id"], ["drivers.id"], name="fk_orders_driver_id_drivers"),
        sa.ForeignKeyConstraint(["park_slug"], ["parks.slug"], name="fk_orders_park_slug_parks"),
        sa.PrimaryKeyConstraint("id", name="pk_orders"),
        sa.UniqueConstraint("park_slug", "external_id", name="uq_orders_park_external"),
    )
    op.create_index("ix_orders_driver_status", "orders", ["driver_id", "status"])
    op.create_table(
        "ledger",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("order_id", _BIG_ID, nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("beneficiary_kind", sa.String(length=16), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("referred_driver_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("reversal_of", _BIG_ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"], name="fk_ledger_order_id_orders"),
        sa.ForeignKeyConstraint(["park_slug"], ["parks.slug"], name="fk_ledger_park_slug_parks"),
        sa.ForeignKeyConstraint(
            ["referred_driver_id"], ["drivers.id"], name="fk_ledger_referred_driver_id_drivers"
        ),
        sa.ForeignKeyConstraint(
            ["reversal_of"], ["ledger.id"], name="fk_ledger_reversal_of_ledger"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ledger"),
        sa.UniqueConstraint("reversal_of", name="uq_ledger_reversal_of"),
    )
    op.create_index("ix_ledger_order_id", "ledger", ["order_id"])
    op.create_index(
        "ix_ledger_beneficiary", "ledger", ["beneficiary_kind", "beneficiary_id", "id"]
    )
    op.create_index("ix_ledger_referred_month", "ledger", ["referred_driver_id", "month"])
    op.create_index("ix_ledger_park_month", "ledger", ["park_slug", "month"])
    op.create_table(
        "balances",
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("accrued_kopecks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("reserved_kopecks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("paid_kopecks", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["park_slug"], ["parks.slug"], name="fk_balances_park_slug_parks"),
        sa.PrimaryKeyConstraint("owner_kind", "owner_id", name="pk_balances"),
    )
    op.create_table(
        "payouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("owner_kind", sa.String(length=16), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_kopecks > 0", name=op.f("ck_payouts_amount_positive")),
        sa.ForeignKeyConstraint(["park_slug"], ["parks.slug"], name="fk_payouts_park_slug_parks"),
        sa.PrimaryKeyConstraint("id", name="pk_payouts"),
    )
    op.create_index("ix_payouts_owner", "payouts", ["owner_kind", "owner_id", "status"])
    op.create_index("ix_payouts_park_status", "payouts", ["park_slug", "status"])


def downgrade() -> None:
    op.drop_table("payouts")
    op.drop_table("balances")
    op.drop_table("ledger")
    op.drop_table("orders")
