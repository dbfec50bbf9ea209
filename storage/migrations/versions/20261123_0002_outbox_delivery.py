"""outbox delivery: hold reason, how a row was sent, claim and per-chat order indexes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PENDING = sa.text("status = 'pending'")
_HELD = sa.text("hold IS NOT NULL")


def upgrade() -> None:
    # Plain ADD COLUMN / CREATE INDEX work on SQLite too, so no batch (table copy) is needed.
    op.add_column("outbox", sa.Column("hold", sa.String(length=16), nullable=True))
    op.add_column("outbox", sa.Column("sent_as", sa.String(length=16), nullable=True))
    # The claim sorts by (next_attempt_at, id); with id in the index PostgreSQL needs no sort.
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at", "id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.create_index(
        "ix_outbox_pending_recipient",
        "outbox",
        ["recipient_kind", "recipient_id", "id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.create_index(
        "ix_outbox_held",
        "outbox",
        ["recipient_kind", "recipient_id"],
        postgresql_where=_HELD,
        sqlite_where=_HELD,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_held", table_name="outbox")
    op.drop_index("ix_outbox_pending_recipient", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index(
        "ix_outbox_due",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("sent_as")
        batch_op.drop_column("hold")
