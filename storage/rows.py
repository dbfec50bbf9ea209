"""Row <-> domain object mapping, kept apart from the queries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from core.domain.model import Channel, Driver, OwnerKind, Park, Partner, Source
from core.domain.registration import Conversation, Step

CONVERSATION_FIELDS = (
    "step",
    "version",
    "lang",
    "name",
    "phone",
    "link_code",
    "link_tag",
    "otp_hash",
    "otp_expires_at",
    "otp_sent_at",
    "otp_attempts",
    "otp_sends",
    "otp_window_start",
    "code_failures",
    "code_window_start",
    "cooldown_until",
    "driver_id",
    "partner_id",
    "last_event",
    "created_at",
    "updated_at",
)


def park_from_row(row: Row[Any]) -> Park:
    return Park(
        slug=row.slug,
        name=row.name,
        landing_url=row.landing_url,
        telegram_username=row.telegram_username,
        vk_group_id=row.vk_group_id,
        vk_screen_name=row.vk_screen_name,
        phone_region=row.phone_region,
        timezone=row.timezone,
    )


def partner_from_row(row: Row[Any]) -> Partner:
    return Partner(
        id=row.id,
        park=row.park_slug,
        phone=row.phone,
        code=row.code,
        name=row.name,
        telegram_chat_id=row.telegram_chat_id,
        alerts=row.alerts,
        quiet_from=row.quiet_from,
        quiet_to=row.quiet_to,
        unreachable=row.unreachable,
        created_at=row.created_at,
    )


def driver_from_row(row: Row[Any]) -> Driver:
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
    }


def conversation_from_row(row: Row[Any]) -> Conversation:
    values = {name: getattr(row, name) for name in CONVERSATION_FIELDS}
    values["step"] = Step(values["step"])
    return Conversation(
        id=row.id, park=row.park_slug, channel=Channel(row.channel), user_id=row.user_id, **values
    )


def conversation_values(conv: Conversation) -> dict[str, Any]:
    values = {name: getattr(conv, name) for name in CONVERSATION_FIELDS}
    values["step"] = conv.step.value
    return values
