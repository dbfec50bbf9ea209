"""partner cabinet sessions (hashed bearer tokens)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partner_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name="fk_partner_sessions_partner_id_partners"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_partner_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_partner_sessions_token_hash"),
    )
    op.create_index("ix_partner_sessions_partner_id", "partner_sessions", ["partner_id"])


def downgrade() -> None:
    op.drop_index("ix_partner_sessions_partner_id", table_name="partner_sessions")
    op.drop_table("partner_sessions")
