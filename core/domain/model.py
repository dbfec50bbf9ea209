"""Domain objects: parks, people, codes. Plain dataclasses; storage maps them to rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class Channel(StrEnum):
    TELEGRAM = "telegram"
    VK = "vk"
    TERMINAL = "terminal"
    # Registration from the park's app and landing page arrives with the web API issue.
    APP = "app"

    @property
    def confirms_phone_by_contact(self) -> bool:
        """Telegram proves the phone by a shared contact; other channels need an SMS code."""
        return self is Channel.TELEGRAM


class OwnerKind(StrEnum):
    PARTNER = "partner"
    DRIVER = "driver"
    # Outbox recipients only (never owns a code): an unfinished registration's chat, which
    # has no driver yet (its registration reminder).
    CONVERSATION = "conversation"


class Alerts(StrEnum):
    """How a partner wants alerts about their referrals."""

    INSTANT = "instant"
    DIGEST = "digest"


class Source(StrEnum):
    """How the code entered at registration reached us."""

    DEEP_LINK = "deep_link"
    TYPED = "typed"
    NONE = "none"


@dataclass(frozen=True)
class Identity:
    """A person as one channel knows them (Telegram user id, VK user id, ...)."""

    channel: Channel
    user_id: str


@dataclass(frozen=True)
class Profile:
    """What the channel tells about the person; optional everywhere."""

    name: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class Park:
    slug: str
    name: str
    landing_url: str
    telegram_username: str | None = None
    vk_group_id: int | None = None
    vk_screen_name: str | None = None
    phone_region: str = "RU"
    timezone: str = "Europe/Moscow"
    # The personal-data policy shown at the phone step (152-FZ consent); None shows none.
    privacy_url: str | None = None

    def referral_link(self, code: str) -> str:
        joiner = "&" if "?" in self.landing_url else "?"
        return f"{self.landing_url}{joiner}code={code}"

    @property
    def telegram_link(self) -> str | None:
        return telegram_link(self.telegram_username)

    @property
    def vk_link(self) -> str | None:
        return vk_link(self.vk_screen_name, self.vk_group_id)


def telegram_link(username: str | None) -> str | None:
    """``https://t.me/<username>``, or None without a Telegram bot."""
    return f"https://t.me/{username}" if username else None


def vk_link(screen_name: str | None, group_id: int | None) -> str | None:
    """``https://vk.me/<screen_name or club<id>>``, or None without a VK community."""
    if screen_name:
        return f"https://vk.me/{screen_name}"
    if group_id:
        return f"https://vk.me/club{group_id}"
    return None


@dataclass(frozen=True)
class CodeInfo:
    """A referral code with what the flow needs to judge it, read in one query."""

    code: str
    park: str
    owner_kind: OwnerKind
    owner_id: int
    owner_phone: str
    active: bool = True


@dataclass(frozen=True)
class PhoneOwner:
    """A driver or partner who owns a phone, with their code: what phone confirmation needs."""

    kind: OwnerKind
    id: int
    park: str
    code: str


@dataclass
class Partner:
    park: str
    phone: str
    code: str
    name: str | None = None
    id: int | None = None
    telegram_chat_id: int | None = None
    alerts: Alerts = Alerts.INSTANT
    quiet_from: str | None = None  # "23:00"
    quiet_to: str | None = None  # "08:00"
    unreachable: bool = False
    created_at: datetime | None = None


@dataclass
class Driver:
    park: str
    phone: str
    own_code: str
    channel: Channel
    source: Source
    name: str | None = None
    entered_code: str | None = None
    referrer_kind: OwnerKind | None = None
    referrer_id: int | None = None
    source_tag: str | None = None
    id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # 152-FZ: when consent to processing was given (with the phone), where, and which policy.
    consent_at: datetime | None = None
    consent_channel: Channel | None = None
    consent_url: str | None = None
    # Mailings are a separate opt-in; withdrawn (/stop) leaves mailing_at None.
    mailing_at: datetime | None = None
    mailing_channel: Channel | None = None
    mailing_url: str | None = None
    # Set by erasure: the row stays (counts, ledger) but holds nothing personal.
    forgotten_at: datetime | None = None


@dataclass(frozen=True)
class AuditEntry:
    driver_id: int
    field: str
    old: str | None
    new: str | None
    actor: str
    at: datetime


@dataclass(frozen=True)
class Notification:
    """One alert for one recipient, written to the outbox in the transaction that caused it.

    ``kind`` is an open string: new kinds (bonuses from the ledger) need no schema change.
    """

    park: str
    recipient_kind: OwnerKind
    recipient_id: int
    kind: str
    payload: dict[str, object]
    key: str
    not_before: datetime | None = None


@dataclass(frozen=True)
class DriverCard:
    """Everything an operator sees about one driver."""

    driver: Driver
    referrer_name: str | None
    referrer_phone: str | None
    identities: tuple[Identity, ...]
    audit: tuple[AuditEntry, ...] = field(default_factory=tuple)
