"""Broadcasts: an operator's message to a park's partners or drivers (issue 13).

Pure data and rules: who is in the audience (``BroadcastFilter``), the idempotency key of a
broadcast, and its progress from the outbox counts. ``core.services.broadcast`` queues it;
the alert relay (``core.services.delivery``) sends it with the alerts' pacing and retries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.domain.codes import normalize_code
from core.domain.delivery import Status
from core.domain.errors import DomainError
from core.domain.model import Channel, Source

MAX_TEXT = 4096  # Telegram's limit for one message
KEY_CHARS = 200  # the idempotency key column


class Audience(StrEnum):
    PARTNERS = "partners"  # every partner with a Telegram chat
    DRIVERS = "drivers"  # drivers who opted in to mailings (/news) and did not /stop


class BroadcastState(StrEnum):
    QUEUEING = "queueing"  # rows are being written, batch by batch
    QUEUED = "queued"  # every recipient has a row; the relay sends them
    CANCELLED = "cancelled"  # unsent rows were cancelled


class BadBroadcast(DomainError):
    """The broadcast cannot be made as asked (empty text, unknown filter, ...)."""


class NoSuchBroadcast(BadBroadcast):
    def __init__(self, broadcast_id: int) -> None:
        super().__init__(f"no broadcast {broadcast_id}")


FILTER_KEYS = ("since", "until", "code", "source", "channel")


@dataclass(frozen=True)
class BroadcastFilter:
    """Narrows the audience: registered (drivers) or added (partners) from ``since`` to
    ``until`` inclusive, park-local days; drivers who entered ``code``, came by ``source``
    or registered in ``channel``."""

    since: date | None = None
    until: date | None = None
    code: str | None = None
    source: Source | None = None
    channel: Channel | None = None

    @classmethod
    def parse(cls, items: list[str] | None) -> BroadcastFilter:
        """``key=value`` items (``since=2026-11-01``, ``code=ANNA01``, ...)."""
        values: dict[str, str] = {}
        for item in items or []:
            key, sep, value = item.partition("=")
            key, value = key.strip().lower(), value.strip()
            if not sep or key not in FILTER_KEYS or not value:
                raise BadBroadcast(
                    f"bad filter {item!r}: use key=value with key one of {', '.join(FILTER_KEYS)}"
                )
            values[key] = value
        try:
            found = cls(
                since=date.fromisoformat(values["since"]) if "since" in values else None,
                until=date.fromisoformat(values["until"]) if "until" in values else None,
                code=_code(values["code"]) if "code" in values else None,
                source=Source(values["source"]) if "source" in values else None,
                channel=Channel(values["channel"]) if "channel" in values else None,
            )
        except ValueError as exc:
            raise BadBroadcast(f"bad filter: {exc}") from None
        if found.since and found.until and found.until < found.since:
            raise BadBroadcast("bad filter: until is before since")
        return found

    def canonical(self) -> str:
        """Stable text of the filter: the same filter always hashes the same."""
        parts = [
            f"{key}={getattr(self, key)}" for key in FILTER_KEYS if getattr(self, key) is not None
        ]
        return ",".join(parts)

    def for_partners(self) -> None:
        if self.code or self.source or self.channel:
            raise BadBroadcast("partners can be filtered by since and until only")

    def selection(self, park: str, audience: Audience, timezone: str) -> Selection:
        """The audience as storage selects it: park-local days as UTC bounds."""
        if audience is Audience.PARTNERS:
            self.for_partners()
        zone = ZoneInfo(timezone)
        since = until = None
        if self.since is not None:
            since = datetime.combine(self.since, time(0), tzinfo=zone).astimezone(UTC)
        if self.until is not None:
            end = self.until + timedelta(days=1)
            until = datetime.combine(end, time(0), tzinfo=zone).astimezone(UTC)
        return Selection(park, audience, since, until, self.code, self.source, self.channel)


@dataclass(frozen=True)
class Selection:
    """Who a broadcast is for: partners of the park (with a Telegram chat), or drivers of
    the park with mailing consent, created in ``[since, until)``, and the drivers' filters."""

    park: str
    audience: Audience
    since: datetime | None = None
    until: datetime | None = None
    code: str | None = None
    source: Source | None = None
    channel: Channel | None = None


def _code(raw: str) -> str:
    code = normalize_code(raw)
    if code is None:
        raise ValueError(f"{raw!r} is not a referral code")
    return code


def default_key(park: str, audience: Audience, flt: BroadcastFilter, text: str) -> str:
    """Running the same broadcast command twice gives the same key, so it is sent once."""
    digest = hashlib.sha256(
        "\x1f".join((park, audience.value, flt.canonical(), text)).encode()
    ).hexdigest()
    return f"sha256:{digest}"


def check_text(text: str) -> str:
    text = text.strip()
    if not text:
        raise BadBroadcast("the broadcast text is empty")
    if len(text) > MAX_TEXT:
        raise BadBroadcast(f"the broadcast text has {len(text)} characters, at most {MAX_TEXT}")
    return text


@dataclass(frozen=True)
class Broadcast:
    id: int
    park: str
    audience: Audience
    filter: str  # BroadcastFilter.canonical()
    text: str
    key: str
    state: BroadcastState
    queued: int  # recipients with a row in the outbox
    skipped: int  # in the audience but without a reachable Telegram chat (VK, unlinked)
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None = None


@dataclass(frozen=True)
class Audit:
    """Who a broadcast would reach now (``--dry-run``)."""

    reachable: int
    skipped: int


@dataclass(frozen=True)
class Progress:
    """A broadcast and what became of its rows so far."""

    broadcast: Broadcast
    counts: dict[Status, int]

    @property
    def pending(self) -> int:
        return self.counts.get(Status.PENDING, 0)

    @property
    def sent(self) -> int:
        return self.counts.get(Status.SENT, 0)

    @property
    def unreachable(self) -> int:
        """The chat refused messages (a 403: blocked the bot, deleted account)."""
        return self.counts.get(Status.UNDELIVERABLE, 0)

    @property
    def failed(self) -> int:
        bad = (Status.FAILED, Status.DEAD, Status.EXPIRED)
        return sum(self.counts.get(status, 0) for status in bad)

    @property
    def cancelled(self) -> int:
        return self.counts.get(Status.CANCELLED, 0)

    @property
    def finished(self) -> bool:
        return self.broadcast.state is not BroadcastState.QUEUEING and self.pending == 0

    def as_dict(self) -> dict[str, object]:
        b = self.broadcast
        return {
            "id": b.id,
            "park": b.park,
            "audience": b.audience.value,
            "filter": b.filter,
            "key": b.key,
            "state": b.state.value,
            "created_by": b.created_by,
            "created_at": b.created_at.isoformat(),
            "cancelled_at": b.cancelled_at.isoformat() if b.cancelled_at else None,
            "recipients": b.queued,
            "skipped": b.skipped,
            "pending": self.pending,
            "sent": self.sent,
            "failed": self.failed,
            "unreachable": self.unreachable,
            "cancelled": self.cancelled,
            "finished": self.finished,
        }
