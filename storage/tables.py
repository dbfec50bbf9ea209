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
    CheckConstraint,
    Column,
    Date,
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

from core.domain import limits
from core.domain.bonus_records import ORDER_ID_MAX

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


parks = Table(
    "parks",
    metadata,
    Column("slug", String(limits.SLUG), primary_key=True),
    Column("name", String(limits.PARK_NAME), nullable=False),
    Column("landing_url", String(limits.URL), nullable=False),
    Column("telegram_username", String(limits.USERNAME)),
    Column("vk_group_id", BigInteger),
    Column("vk_screen_name", String(limits.USERNAME)),
    Column("phone_region", String(2), nullable=False, server_default="RU"),
    Column("timezone", String(limits.TIMEZONE), nullable=False, server_default="Europe/Moscow"),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("privacy_url", String(limits.URL)),
)

codes = Table(
    "codes",
    metadata,
    Column("code", String(limits.CODE), primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UTCDateTime, nullable=False),
)

partners = Table(
    "partners",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("phone", String(limits.PHONE), nullable=False, index=True),
    Column("name", String(limits.PERSON_NAME)),
    Column("code", String(limits.CODE), ForeignKey("codes.code"), nullable=False, unique=True),
    Column("telegram_chat_id", BigInteger, index=True),
    Column("alerts", String(16), nullable=False, server_default="instant"),
    Column("quiet_from", String(5)),
    Column("quiet_to", String(5)),
    Column("unreachable", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("park_slug", "phone", name="uq_partners_park_phone"),
)

drivers = Table(
    "drivers",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("phone", String(limits.PHONE), nullable=False),
    Column("name", String(limits.PERSON_NAME)),
    Column("own_code", String(limits.CODE), ForeignKey("codes.code"), nullable=False, unique=True),
    Column("entered_code", String(limits.CODE), ForeignKey("codes.code")),
    Column("referrer_kind", String(16)),
    Column("referrer_id", Integer),
    Column("channel", String(16), nullable=False),
    Column("source", String(16), nullable=False),
    Column("source_tag", String(limits.SOURCE_TAG)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # 152-FZ consent (processing, then the separate mailing opt-in) and erasure.
    Column("consent_at", UTCDateTime),
    Column("consent_channel", String(16)),
    Column("consent_url", String(limits.URL)),
    Column("mailing_at", UTCDateTime),
    Column("mailing_channel", String(16)),
    Column("mailing_url", String(limits.URL)),
    Column("forgotten_at", UTCDateTime),
    UniqueConstraint("park_slug", "phone", name="uq_drivers_park_phone"),
    Index("ix_drivers_referrer", "referrer_kind", "referrer_id", "created_at"),
)

# Conversations that may still get their registration reminder (literal steps: a partial
# index is used only when the query's WHERE visibly implies it).
_REMINDABLE = (
    "reminded_at IS NULL AND stopped_at IS NULL AND step IN ('phone', 'otp', 'referral')"
)

conversations = Table(
    "conversations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("user_id", String(limits.USER_ID), nullable=False),
    Column("step", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("lang", String(8), nullable=False),
    Column("name", String(limits.PERSON_NAME)),
    Column("phone", String(limits.PHONE)),
    Column("link_code", String(limits.CODE)),
    Column("link_tag", String(limits.SOURCE_TAG)),
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
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("consent_at", UTCDateTime),
    Column("consent_url", String(limits.URL)),
    Column("reminded_at", UTCDateTime),
    Column("stopped_at", UTCDateTime),
    UniqueConstraint("park_slug", "channel", "user_id", name="uq_conversations_identity"),
    Index("ix_conversations_step_updated", "step", "updated_at"),
    # The reminder job's seek: unfinished, never reminded, not stopped, oldest activity first.
    Index(
        "ix_conversations_reminder_due",
        "updated_at",
        postgresql_where=text(_REMINDABLE),
        sqlite_where=text(_REMINDABLE),
    ),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("recipient_kind", String(16), nullable=False),
    Column("recipient_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("claimed_by", String(64)),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    # Why a row is parked instead of sent: "unlinked" (recipient has no chat yet), "blocked"
    # (they blocked the bot), "quiet" (their quiet hours). Cleared when the row moves on.
    Column("hold", String(16)),
    # "telegram" when a message went out; "digest" when a digest-only partner's instant
    # alert was folded into the daily digest instead.
    Column("sent_as", String(16)),
    # The broadcast a row belongs to (None for alerts): its counts and its cancellation.
    Column("broadcast_id", Integer, ForeignKey("broadcasts.id")),
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
    Index("ix_outbox_broadcast", "broadcast_id", "status"),
)

# An operator's message to a park's partners or drivers (issue 13). The idempotency key is
# unique, so running the same broadcast command twice finds the first one instead of
# sending again. Its messages are outbox rows (``outbox.broadcast_id``), queued in batches;
# ``queued_through`` is the last recipient id queued, so an interrupted queueing resumes.
broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("audience", String(16), nullable=False),
    Column("filter", String(500), nullable=False),
    Column("text", Text, nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("state", String(16), nullable=False),
    Column("queued", Integer, nullable=False, server_default="0"),
    Column("skipped", Integer, nullable=False, server_default="0"),
    Column("queued_through", Integer, nullable=False, server_default="0"),
    Column("created_by", String(limits.ACTOR), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("cancelled_at", UTCDateTime),
)

# Named positions kept across restarts, such as a VK community's long-poll ``ts``.
cursors = Table(
    "cursors",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# One row per SMS code sent: limits per phone number hold across chats, channels, processes.
sms_sends = Table(
    "sms_sends",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("phone", String(limits.PHONE), nullable=False),
    Column("park_slug", String(limits.SLUG), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
    Index("ix_sms_sends_phone_sent", "phone", "sent_at"),
)

# Secrets the server generates for itself on first run (the one-time-code HMAC key), so that
# every process on the database agrees without an operator having to configure one.
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("driver_id", Integer, ForeignKey("drivers.id"), nullable=False, index=True),
    Column("field", String(64), nullable=False),
    Column("old", String(limits.AUDIT_VALUE)),
    Column("new", String(limits.AUDIT_VALUE)),
    Column("actor", String(limits.ACTOR), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)


# -- the bonus ledger (issue 12) -------------------------------------------------------------
# Money is integer kopecks (BIGINT). Orders and ledger rows grow without bound, so their ids
# are BIGINT on PostgreSQL; SQLite's rowid alias must be plain INTEGER (it is 64-bit anyway).
_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")

orders = Table(
    "orders",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("external_id", String(ORDER_ID_MAX), nullable=False),
    Column("driver_id", Integer, ForeignKey("drivers.id"), nullable=False),
    Column("completed_at", UTCDateTime, nullable=False),
    Column("price_kopecks", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Idempotency of the intake: one row per order of a park, whoever sends it twice.
    UniqueConstraint("park_slug", "external_id", name="uq_orders_park_external"),
    CheckConstraint("price_kopecks >= 0", name="price_not_negative"),
)

# Completed (not cancelled) orders per driver, for rules with a minimum number of orders;
# kept by the transaction that stores or cancels orders (migration 0012). Counting the
# orders table instead read all of a batch's drivers' orders every batch, more as they
# drive, through an index by driver that took a random leaf page per stored order.
driver_order_counts = Table(
    "driver_order_counts",
    metadata,
    Column("driver_id", Integer, primary_key=True, autoincrement=False),
    Column("completed", Integer, nullable=False),
)

# Append-only: rows are inserted, never updated or deleted; a reversal is a new negative row.
ledger = Table(
    "ledger",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("order_id", _BIG_ID, ForeignKey("orders.id"), nullable=False, index=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("beneficiary_kind", String(16), nullable=False),
    Column("beneficiary_id", Integer, nullable=False),
    Column("referred_driver_id", Integer, ForeignKey("drivers.id"), nullable=False),
    Column("level", Integer, nullable=False),
    Column("rule_version", Integer, nullable=False),
    Column("amount_kopecks", BigInteger, nullable=False),
    Column("month", String(7), nullable=False),  # YYYY-MM in the park's time zone
    # Unique: a row is reversed at most once, even by two imports racing.
    Column("reversal_of", _BIG_ID, ForeignKey("ledger.id"), unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_ledger_beneficiary", "beneficiary_kind", "beneficiary_id", "id"),
    Index("ix_ledger_park_month", "park_slug", "month"),
)

# The ledger summed per (referred driver, month, beneficiary): what a monthly cap compares
# with, kept by the transaction that appends the rows (migration 0011). Summing the ledger
# instead read every row of a batch's drivers' months, more each batch, and its index by
# (referred driver, month) took a random leaf page per row: a third of an import's time at
# 100,000 orders. Here a key is one row however many orders it sums.
ledger_month_sums = Table(
    "ledger_month_sums",
    metadata,
    Column("referred_driver_id", Integer, primary_key=True),
    Column("month", String(7), primary_key=True),
    Column("beneficiary_kind", String(16), primary_key=True),
    Column("beneficiary_id", Integer, primary_key=True),
    Column("amount_kopecks", BigInteger, nullable=False),
    # Clustered by its key on SQLite: a lookup or an update is one B-tree, not two.
    sqlite_with_rowid=False,
)

# The ledger summed per beneficiary, kept in the transaction that writes the ledger or moves
# a payout: a balance is one primary-key read, and a payout reserves money with one
# conditional UPDATE of this row.
balances = Table(
    "balances",
    metadata,
    Column("owner_kind", String(16), primary_key=True),
    Column("owner_id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("accrued_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("reserved_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("paid_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime, nullable=False),
    # Batched accrual alerts (migration 0010): the net accrued since the last alert, moved
    # into one outbox row per beneficiary at most once per the park's alert interval.
    Column("alert_kopecks", BigInteger, nullable=False, server_default="0"),
    Column("alerted_at", UTCDateTime),
    Index(
        "ix_balances_alert_pending",
        "park_slug",
        postgresql_where=text("alert_kopecks > 0"),
        sqlite_where=text("alert_kopecks > 0"),
    ),
)

payouts = Table(
    "payouts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("owner_kind", String(16), nullable=False),
    Column("owner_id", Integer, nullable=False),
    Column("amount_kopecks", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("note", String(200)),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_payouts_owner", "owner_kind", "owner_id", "status"),
    Index("ix_payouts_park_status", "park_slug", "status"),
    CheckConstraint("amount_kopecks > 0", name="amount_positive"),
)


# -- the referral landing page (issue 11) ------------------------------------------------------
# Visits counted per code, source and day (the park's date), one row each, incremented by an
# upsert. Nothing identifies a visitor: no IP address, no user agent, no cookie.
landing_visits = Table(
    "landing_visits",
    metadata,
    Column("park", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("code", String(limits.CODE), ForeignKey("codes.code"), primary_key=True),
    # "" for a link without a source tag: a primary key column cannot be NULL.
    Column("source", String(limits.SOURCE_TAG), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Index("ix_landing_visits_park_day", "park", "day"),
)


# -- the partner cabinet API (issue 11) --------------------------------------------------------
# Bearer tokens of signed-in partners, kept only as SHA-256 digests: the table alone lets no
# one sign in. A session ends at ``expires_at`` or when ``revoked_at`` is set (sign-out).
partner_sessions = Table(
    "partner_sessions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("partner_id", Integer, ForeignKey("partners.id"), nullable=False, index=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime),
)


# -- signed outgoing webhooks (issue 11) -------------------------------------------------------
# Events for a park's own systems, written in the transaction that caused them and delivered
# by the webhook relay with retries. ``body`` is the exact JSON that is signed and sent, so a
# retry sends the same bytes and the same ``event_id``: the receiver deduplicates by it.
webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("park_slug", String(limits.SLUG), ForeignKey("parks.slug"), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Index("ix_webhook_outbox_status_next", "status", "next_attempt_at"),
)
