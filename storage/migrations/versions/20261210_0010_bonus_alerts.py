"""Batched bonus alerts: what accrued to a beneficiary since their last alert, and when that was

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PENDING = "alert_kopecks > 0"


def upgrade() -> None:
    with op.batch_alter_table("balances") as batch:
        batch.add_column(
            sa.Column("alert_kopecks", sa.BigInteger(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
    # The alert job reads only the rows with something to announce.
    op.create_index(
        "ix_balances_alert_pending",
        "balances",
        ["park_slug"],
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_balances_alert_pending", table_name="balances")
    with op.batch_alter_table("balances") as batch:
        batch.drop_column("alerted_at")
        batch.drop_column("alert_kopecks")
