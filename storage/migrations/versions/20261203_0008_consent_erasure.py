"""152-FZ consent and erasure: the park's policy URL, consents on drivers and conversations

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_DRIVER_COLUMNS = (
    ("consent_at", sa.DateTime(timezone=True)),
    ("consent_channel", sa.String(length=16)),
    ("consent_url", sa.String(length=500)),
    ("mailing_at", sa.DateTime(timezone=True)),
    ("mailing_channel", sa.String(length=16)),
    ("mailing_url", sa.String(length=500)),
    ("forgotten_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("parks") as batch:
        batch.add_column(sa.Column("privacy_url", sa.String(length=500), nullable=True))
    with op.batch_alter_table("drivers") as batch:
        for name, type_ in _DRIVER_COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("consent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("consent_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("consent_url")
        batch.drop_column("consent_at")
    with op.batch_alter_table("drivers") as batch:
        for name, _ in reversed(_DRIVER_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("parks") as batch:
        batch.drop_column("privacy_url")
