"""What front ends tell core: one incoming event per update, already stripped of the channel."""

from __future__ import annotations

from dataclasses import dataclass

from core.domain.model import Identity, Profile
from core.replies import Action


@dataclass(frozen=True)
class Start:
    """/start, a deep link or a VK ``ref``: ``payload`` is the code part, ``tag`` a source tag."""

    payload: str | None = None
    tag: str | None = None


@dataclass(frozen=True)
class ContactShared:
    phone: str
    own: bool  # the contact belongs to the sender (Telegram's contact.user_id == from.id)


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Pressed:
    action: Action


@dataclass(frozen=True)
class Command:
    """A slash command other than /start (``code``, ``help``, anything unknown)."""

    name: str


@dataclass(frozen=True)
class Unsupported:
    """Stickers, photos, voice, locations, edits, stale buttons: a hint for the current step."""

    kind: str


Event = Start | ContactShared | Text | Pressed | Command | Unsupported


@dataclass(frozen=True)
class Incoming:
    park: str
    who: Identity
    event: Event
    profile: Profile | None = None
    # The channel's increasing number of the update, to ignore a repeated delivery.
    event_id: int | None = None
