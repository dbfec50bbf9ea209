"""landing page visits per code, source and day

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "landing_visits",
        sa.Column("park", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["park"], ["parks.slug"], name="fk_landing_visits_park_parks"),
        sa.ForeignKeyConstraint(["code"], ["codes.code"], name="fk_landing_visits_code_codes"),
        sa.PrimaryKeyConstraint("code", "source", "day", name="pk_landing_visits"),
    )
    op.create_index("ix_landing_visits_park_day", "landing_visits", ["park", "day"])


def downgrade() -> None:
    op.drop_index("ix_landing_visits_park_day", table_name="landing_visits")
    op.drop_table("landing_visits")
