"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "parks",
        sa.Column("slug", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("landing_url", sa.String(length=500), nullable=False),
        sa.Column("telegram_username", sa.String(length=64), nullable=True),
        sa.Column("vk_group_id", sa.BigInteger(), nullable=True),
        sa.Column("vk_screen_name", sa.String(length=64), nullable=True),
        sa.Column("phone_region", sa.String(length=2), server_default="RU", nullable=False),
        sa.Column(
            "timezone", sa.String(length=64), server_default="Europe/Moscow", nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_parks")),
    )
    op.create_table(
        "codes",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("(true)"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name=op.f("fk_codes_park_slug_parks")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_codes")),
    )
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_codes_park_slug"), ["park_slug"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("recipient_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name=op.f("fk_outbox_park_slug_parks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outbox_idempotency_key")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_due",
            ["next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_outbox_recipient", ["recipient_kind", "recipient_id", "status"], unique=False
        )
        batch_op.create_index("ix_outbox_status", ["status"], unique=False)

    op.create_table(
        "drivers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("own_code", sa.String(length=16), nullable=False),
        sa.Column("entered_code", sa.String(length=16), nullable=True),
        sa.Column("referrer_kind", sa.String(length=16), nullable=True),
        sa.Column("referrer_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_tag", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entered_code"], ["codes.code"], name=op.f("fk_drivers_entered_code_codes")
        ),
        sa.ForeignKeyConstraint(
            ["own_code"], ["codes.code"], name=op.f("fk_drivers_own_code_codes")
        ),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name=op.f("fk_drivers_park_slug_parks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drivers")),
        sa.UniqueConstraint("own_code", name=op.f("uq_drivers_own_code")),
        sa.UniqueConstraint("park_slug", "phone", name="uq_drivers_park_phone"),
    )
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_drivers_referrer", ["referrer_kind", "referrer_id", "created_at"], unique=False
        )

    op.create_table(
        "partners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("telegram_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("alerts", sa.String(length=16), server_default="instant", nullable=False),
        sa.Column("quiet_from", sa.String(length=5), nullable=True),
        sa.Column("quiet_to", sa.String(length=5), nullable=True),
        sa.Column("unreachable", sa.Boolean(), server_default=sa.text("(false)"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["code"], ["codes.code"], name=op.f("fk_partners_code_codes")),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name=op.f("fk_partners_park_slug_parks")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partners")),
        sa.UniqueConstraint("code", name=op.f("uq_partners_code")),
        sa.UniqueConstraint("park_slug", "phone", name="uq_partners_park_phone"),
    )
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_partners_phone"), ["phone"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_partners_telegram_chat_id"), ["telegram_chat_id"], unique=False
        )

    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("driver_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("old", sa.String(length=200), nullable=True),
        sa.Column("new", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_audit_log_driver_id_drivers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_driver_id"), ["driver_id"], unique=False)

    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("park_slug", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("link_code", sa.String(length=16), nullable=True),
        sa.Column("link_tag", sa.String(length=64), nullable=True),
        sa.Column("otp_hash", sa.String(length=64), nullable=True),
        sa.Column("otp_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("otp_sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("otp_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("otp_sends", sa.Integer(), server_default="0", nullable=False),
        sa.Column("otp_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("code_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("code_window_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("driver_id", sa.Integer(), nullable=True),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("last_event", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_conversations_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["park_slug"], ["parks.slug"], name=op.f("fk_conversations_park_slug_parks")
        ),
        sa.ForeignKeyConstraint(
            ["partner_id"], ["partners.id"], name=op.f("fk_conversations_partner_id_partners")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("park_slug", "channel", "user_id", name="uq_conversations_identity"),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversations_driver_id"), ["driver_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_conversations_partner_id"), ["partner_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_step_updated", ["step", "updated_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_step_updated")
        batch_op.drop_index(batch_op.f("ix_conversations_partner_id"))
        batch_op.drop_index(batch_op.f("ix_conversations_driver_id"))

    op.drop_table("conversations")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_driver_id"))

    op.drop_table("audit_log")
    with op.batch_alter_table("partners", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partners_telegram_chat_id"))
        batch_op.drop_index(batch_op.f("ix_partners_phone"))

    op.drop_table("partners")
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.drop_index("ix_drivers_referrer")

    op.drop_table("drivers")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_status")
        batch_op.drop_index("ix_outbox_recipient")
        batch_op.drop_index(
            "ix_outbox_due",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        )

    op.drop_table("outbox")
    with op.batch_alter_table("codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_codes_park_slug"))

    op.drop_table("codes")
    op.drop_table("parks")
