"""Broadcasts and the one reminder of an unfinished registration (issue 13)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_REMINDABLE = "reminded_at IS NULL AND stopped_at IS NULL AND step IN ('phone', 'otp', 'referral')"


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=16), nullable=False),
        sa.Column("filter", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("queued", sa.Integer(), server_default="0", nullable=False),
        sa.Column("skipped", sa.Integer(), server_default="0", nullable=False),
        sa.Column("queued_through", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name="fk_broadcasts_park_slug_parks"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
        sa.UniqueConstraint("idempotency_key", name="uq_broadcasts_idempotency_key"),
    )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("broadcast_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_outbox_broadcast_id_broadcasts", "broadcasts", ["broadcast_id"], ["id"]
        )
        batch.create_index("ix_outbox_broadcast", ["broadcast_id", "status"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_conversations_reminder_due",
        "conversations",
        ["updated_at"],
        postgresql_where=sa.text(_REMINDABLE),
        sqlite_where=sa.text(_REMINDABLE),
    )


def downgrade() -> None:
    op.drop_index("ix_conversations_reminder_due", table_name="conversations")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("stopped_at")
        batch.drop_column("reminded_at")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_broadcast")
        batch.drop_constraint("fk_outbox_broadcast_id_broadcasts", type_="foreignkey")
        batch.drop_column("broadcast_id")
    op.drop_table("broadcasts")
