"""Row <-> domain object mapping. Column lists come from the table definitions."""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime
from typing import Any

from core.domain.delivery import Status
from core.domain.model import (
    Alerts,
    Channel,
    Driver,
    Notification,
    OwnerKind,
    Park,
    Partner,
    Source,
)
from core.domain.registration import Conversation, Step
from storage import tables as t

# A result row read by column name: SQLAlchemy's Row, or the named tuple of the hot
# statements' direct path on SQLite (storage.statements).
RowLike = Any

# The conversation's identity is written once, at insert; everything else moves with it.
_CONVERSATION_KEY = ("id", "park_slug", "channel", "user_id")
CONVERSATION_FIELDS = tuple(c.name for c in t.conversations.c if c.name not in _CONVERSATION_KEY)
# Driver columns that an insert writes (the id is the database's).
DRIVER_COLUMNS = tuple(c.name for c in t.drivers.c if c.name != "id")
# Outbox columns a new notification sets; the rest start empty or at their defaults.
OUTBOX_INSERT_COLUMNS = (
    "park_slug",
    "recipient_kind",
    "recipient_id",
    "kind",
    "payload",
    "idempotency_key",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
)
# Park columns that mirror ``core.domain.model.Park`` one to one.
PARK_FIELDS = tuple(f.name for f in fields(Park))


def park_from_row(row: RowLike) -> Park:
    return Park(**{name: getattr(row, name) for name in PARK_FIELDS})


def park_values(park: Park) -> dict[str, Any]:
    return {name: getattr(park, name) for name in PARK_FIELDS}


def partner_from_row(row: RowLike) -> Partner:
    return Partner(
        id=row.id,
        park=row.park_slug,
        phone=row.phone,
        code=row.code,
        name=row.name,
        telegram_chat_id=row.telegram_chat_id,
        alerts=Alerts(row.alerts),
        quiet_from=row.quiet_from,
        quiet_to=row.quiet_to,
        unreachable=row.unreachable,
        created_at=row.created_at,
    )


def driver_from_row(row: RowLike) -> Driver:
    return Driver(
        id=row.id,
        park=row.park_slug,
        phone=row.phone,
        own_code=row.own_code,
        channel=Channel(row.channel),
        source=Source(row.source),
        name=row.name,
        entered_code=row.entered_code,
        referrer_kind=OwnerKind(row.referrer_kind) if row.referrer_kind else None,
        referrer_id=row.referrer_id,
        source_tag=row.source_tag,
        created_at=row.created_at,
        updated_at=row.updated_at,
        consent_at=row.consent_at,
        consent_channel=Channel(row.consent_channel) if row.consent_channel else None,
        consent_url=row.consent_url,
        mailing_at=row.mailing_at,
        mailing_channel=Channel(row.mailing_channel) if row.mailing_channel else None,
        mailing_url=row.mailing_url,
        forgotten_at=row.forgotten_at,
    )


def driver_values(driver: Driver) -> dict[str, Any]:
    return {
        "park_slug": driver.park,
        "phone": driver.phone,
        "name": driver.name,
        "own_code": driver.own_code,
        "entered_code": driver.entered_code,
        "referrer_kind": driver.referrer_kind.value if driver.referrer_kind else None,
        "referrer_id": driver.referrer_id,
        "channel": driver.channel.value,
        "source": driver.source.value,
        "source_tag": driver.source_tag,
        "created_at": driver.created_at,
        "updated_at": driver.updated_at or driver.created_at,
        "consent_at": driver.consent_at,
        "consent_channel": driver.consent_channel.value if driver.consent_channel else None,
        "consent_url": driver.consent_url,
        "mailing_at": driver.mailing_at,
        "mailing_channel": driver.mailing_channel.value if driver.mailing_channel else None,
        "mailing_url": driver.mailing_url,
        "forgotten_at": driver.forgotten_at,
    }


def conversation_from_row(row: RowLike) -> Conversation:
    values = {name: getattr(row, name) for name in CONVERSATION_FIELDS}
    values["step"] = Step(values["step"])
    return Conversation(
        id=row.id, park=row.park_slug, channel=Channel(row.channel), user_id=row.user_id, **values
    )


def conversation_values(conv: Conversation) -> dict[str, Any]:
    return {name: getattr(conv, name) for name in CONVERSATION_FIELDS}


def outbox_values(notification: Notification, now: datetime) -> dict[str, Any]:
    """A new outbox row (``OUTBOX_INSERT_COLUMNS``): pending, due at ``not_before`` or now."""
    return {
        "park_slug": notification.park,
        "recipient_kind": notification.recipient_kind.value,
        "recipient_id": notification.recipient_id,
        "kind": notification.kind,
        "payload": notification.payload,
        "idempotency_key": notification.key,
        "status": Status.PENDING.value,
        "attempts": 0,
        "next_attempt_at": notification.not_before or now,
        "created_at": now,
    }
