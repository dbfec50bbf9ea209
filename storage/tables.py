"""The schema, as SQLAlchemy Core tables. Migrations under ``migrations/`` create it.

Invariants live in the database too (unique codes, one driver per phone per park, one
conversation per channel identity), so concurrent duplicates fail cleanly whatever the code does.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect

# Explicit names so that Alembic's batch mode on SQLite can find and alter constraints.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out; SQLite would otherwise hand back naive ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _now() -> datetime:
    return datetime.now(UTC)


parks = Table(
    "parks",
    metadata,
    Column("slug", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("landing_url", String(500), nullable=False),
    Column("telegram_username", String(64)),
    Column("vk_group_id", BigInteger),
    Column("vk_screen_name", String(64)),
    Column("phone_region", String(2), nullable=False, server_default="RU"),
    Column("timezone", String(64), nullable=False, server_default="Europe/Moscow"),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
)

codes = Table(
    "codes",
    metadata,
    Column("code", String(16), primary_key=True),
    Column("park_slug", String(32), ForeignKey("parks.slug"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
)

partners = Table(
    "partners",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(32), ForeignKey("parks.slug"), nullable=False),
    Column("phone", String(20), nullable=False, index=True),
    Column("name", String(200)),
    Column("code", String(16), ForeignKey("codes.code"), nullable=False, unique=True),
    Column("telegram_chat_id", BigInteger, index=True),
    Column("alerts", String(16), nullable=False, server_default="instant"),
    Column("quiet_from", String(5)),
    Column("quiet_to", String(5)),
    Column("unreachable", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now, onupdate=_now),
    UniqueConstraint("park_slug", "phone", name="uq_partners_park_phone"),
)

drivers = Table(
    "drivers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(32), ForeignKey("parks.slug"), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("name", String(200)),
    Column("own_code", String(16), ForeignKey("codes.code"), nullable=False, unique=True),
    Column("entered_code", String(16), ForeignKey("codes.code")),
    Column("referrer_kind", String(16)),
    Column("referrer_id", Integer),
    Column("channel", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("source_tag", String(64)),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
    UniqueConstraint("park_slug", "phone", name="uq_drivers_park_phone"),
    Index("ix_drivers_referrer", "referrer_kind", "referrer_id", "created_at"),
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(32), ForeignKey("parks.slug"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("user_id", String(64), nullable=False),
    Column("step", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("name", String(200)),
    Column("phone", String(20)),
    Column("link_code", String(16)),
    Column("link_tag", String(64)),
    Column("otp_hash", String(64)),
    Column("otp_expires_at", UTCDateTime),
    Column("otp_sent_at", UTCDateTime),
    Column("otp_attempts", Integer, nullable=False, server_default="0"),
    Column("otp_sends", Integer, nullable=False, server_default="0"),
    Column("otp_window_start", UTCDateTime),
    Column("code_failures", Integer, nullable=False, server_default="0"),
    Column("code_window_start", UTCDateTime),
    Column("cooldown_until", UTCDateTime),
    Column("driver_id", Integer, ForeignKey("drivers.id"), index=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), index=True),
    Column("last_event", BigInteger),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("updated_at", UTCDateTime, nullable=False, default=_now),
    UniqueConstraint("park_slug", "channel", "user_id", name="uq_conversations_identity"),
    Index("ix_conversations_step_updated", "step", "updated_at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(32), ForeignKey("parks.slug"), nullable=False),
    Column("recipient_kind", String(16), nullable=False),
    Column("recipient_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False, default=_now),
    Column("claimed_until", UTCDateTime),
    Column("claimed_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False, default=_now),
    Column("sent_at", UTCDateTime),
    # Why a row is parked instead of sent: "unlinked" (recipient has no chat yet), "blocked"
    # (they blocked the bot), "quiet" (their quiet hours). Cleared when the row moves on.
    Column("hold", String(16)),
    # "telegram" when a message went out; "digest" when a digest-only partner's instant
    # alert was folded into the daily digest instead.
    Column("sent_as", String(16)),
    # Claims read only due pending rows, oldest first: a partial index on the sort key keeps
    # that a seek however much sent history the table holds.
    Index(
        "ix_outbox_due",
        "next_attempt_at",
        "id",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    # Per-chat order: "is there an earlier pending row for this recipient?" is a seek here.
    Index(
        "ix_outbox_pending_recipient",
        "recipient_kind",
        "recipient_id",
        "id",
        postgresql_where=text("status = 'pending'"),
        sqlite_where=text("status = 'pending'"),
    ),
    # Re-activation scans only held rows (few), not the history.
    Index(
        "ix_outbox_held",
        "recipient_kind",
        "recipient_id",
        postgresql_where=text("hold IS NOT NULL"),
        sqlite_where=text("hold IS NOT NULL"),
    ),
    Index("ix_outbox_recipient", "recipient_kind", "recipient_id", "status"),
    Index("ix_outbox_status", "status"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("driver_id", Integer, ForeignKey("drivers.id"), nullable=False, index=True),
    Column("field", String(64), nullable=False),
    Column("old", String(200)),
    Column("new", String(200)),
    Column("actor", String(200), nullable=False),
    Column("at", UTCDateTime, nullable=False, default=_now),
)
