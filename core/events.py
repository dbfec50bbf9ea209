"""What front ends tell core: one incoming event per update, already stripped of the channel.

Every text field is cleaned when the event is built (``core.domain.text``): no NUL, other
control characters or lone surrogates, nothing longer than its column. So each channel,
present and future, hands core text that PostgreSQL and SQLite both store alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.domain import limits
from core.domain.codes import MAX_INPUT
from core.domain.model import Identity, Profile
from core.domain.text import MESSAGE, clean, clean_line, clean_name
from core.replies import Action

_COMMAND = 64  # Telegram allows 32 characters; anything longer is no command of ours
_LANGUAGE = 35  # the longest BCP 47 tag worth reading


@dataclass(frozen=True)
class Start:
    """/start, a deep link or a VK ``ref``: ``payload`` is the code part, ``tag`` a source tag."""

    payload: str | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        # Frozen: object.__setattr__ is how a frozen dataclass sets a field in __post_init__.
        payload = clean_line(self.payload, MAX_INPUT) if self.payload is not None else None
        object.__setattr__(self, "payload", payload or None)
        tag = clean_line(self.tag, limits.SOURCE_TAG) if self.tag is not None else None
        object.__setattr__(self, "tag", tag or None)


@dataclass(frozen=True)
class ContactShared:
    phone: str
    own: bool  # the contact belongs to the sender (Telegram's contact.user_id == from.id)

    def __post_init__(self) -> None:
        # Not cut to a phone's length: an over-long value must stay invalid, not become valid.
        object.__setattr__(self, "phone", clean_line(self.phone, MESSAGE))


@dataclass(frozen=True)
class Text:
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", clean(self.text, MESSAGE))


@dataclass(frozen=True)
class Pressed:
    action: Action


@dataclass(frozen=True)
class Command:
    """A slash command other than /start (``code``, ``help``, anything unknown)."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", clean_line(self.name, _COMMAND))


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

    def __post_init__(self) -> None:
        if self.profile is not None:
            language = self.profile.language
            profile = Profile(
                name=clean_name(self.profile.name, limits.PERSON_NAME),
                language=(clean_line(language, _LANGUAGE) or None) if language else None,
            )
            object.__setattr__(self, "profile", profile)
