"""The ledger's month sums per (referred driver, month, beneficiary), kept by the import

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11

A monthly cap compares an order's shares with what each beneficiary already earned from that
driver that month. Summing the ledger for it read more rows every batch, and the index it
needed, ``ix_ledger_referred_month``, took a random leaf page per appended row; the summary
is one row per key, updated in the transaction that appends the ledger rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_month_sums",
        sa.Column("referred_driver_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("beneficiary_kind", sa.String(length=16), nullable=False),
        sa.Column("beneficiary_id", sa.Integer(), nullable=False),
        sa.Column("amount_kopecks", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "referred_driver_id",
            "month",
            "beneficiary_kind",
            "beneficiary_id",
            name="pk_ledger_month_sums",
        ),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO ledger_month_sums"
        " (referred_driver_id, month, beneficiary_kind, beneficiary_id, amount_kopecks)"
        " SELECT referred_driver_id, month, beneficiary_kind, beneficiary_id,"
        " sum(amount_kopecks) FROM ledger"
        " GROUP BY referred_driver_id, month, beneficiary_kind, beneficiary_id"
    )
    op.drop_index("ix_ledger_referred_month", table_name="ledger")


def downgrade() -> None:
    op.create_index("ix_ledger_referred_month", "ledger", ["referred_driver_id", "month"])
    op.drop_table("ledger_month_sums")
