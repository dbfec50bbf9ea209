"""Delivering alerts: the outbox row as core sees it, what a send can answer, what is decided.

Pure data and pure rules (quiet hours, backoff). The relay that applies them is
``core.services.delivery``; the outbox table behind ``OutboxRow`` is storage's business.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.model import Alerts, OwnerKind

# Notification kinds (``Notification.kind``) that the relay knows how to word.
DRIVER_REGISTERED = "driver_registered"
PARTNER_DIGEST = "partner_digest"
# An operator's message to a park's partners or drivers (``core.services.broadcast``); its
# text is the broadcast's, read with the claim (``Targets.broadcasts``).
BROADCAST = "broadcast"
# The one reminder of an unfinished registration (``core.services.reminders``), addressed to
# the conversation (``OwnerKind.CONVERSATION``): there is no driver yet.
REGISTRATION_REMINDER = "registration_reminder"


class Status(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good by Telegram for reasons of the message itself
    DEAD = "dead"  # max_attempts transient failures
    UNDELIVERABLE = "undeliverable"  # the recipient blocked the bot / the chat is gone
    EXPIRED = "expired"  # waited too long for the recipient to link a chat
    CANCELLED = "cancelled"  # no longer wanted: its broadcast was cancelled, or the reminded
    # registration was finished or stopped before the reminder left


class Hold(StrEnum):
    """Why a row is parked rather than sent."""

    UNLINKED = "unlinked"
    BLOCKED = "blocked"
    QUIET = "quiet"


class SentAs(StrEnum):
    TELEGRAM = "telegram"  # a message went out
    DIGEST = "digest"  # a digest-only partner's alert, counted in the daily digest instead


@dataclass(frozen=True)
class OutboxRow:
    """One queued notification (names follow ``core.domain.model.Notification``)."""

    id: int
    park: str
    recipient_kind: OwnerKind
    recipient_id: int
    kind: str
    payload: dict[str, Any]
    key: str
    status: Status
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    hold: Hold | None = None
    last_error: str | None = None
    claimed_until: datetime | None = None
    claimed_by: str | None = None
    sent_at: datetime | None = None
    sent_as: SentAs | None = None
    broadcast_id: int | None = None


@dataclass(frozen=True)
class PartnerTarget:
    id: int
    chat_id: int | None
    unreachable: bool
    alerts: Alerts
    quiet_from: str | None
    quiet_to: str | None


@dataclass(frozen=True)
class DriverTarget:
    id: int
    chat_id: int | None
    lang: str
    mailing: bool = True  # consented to mailings (not withdrawn by /stop)


@dataclass(frozen=True)
class ConversationTarget:
    """An unfinished registration's chat, for its reminder."""

    id: int
    chat_id: int | None
    lang: str
    open: bool  # still unfinished and not stopped: the reminder is still wanted


@dataclass(frozen=True)
class BroadcastTarget:
    id: int
    text: str
    cancelled: bool


@dataclass(frozen=True)
class Targets:
    """The recipients of a claimed batch, read in the claim's transaction."""

    partners: dict[int, PartnerTarget]
    drivers: dict[int, DriverTarget]
    conversations: dict[int, ConversationTarget] = field(default_factory=dict)
    broadcasts: dict[int, BroadcastTarget] = field(default_factory=dict)


# -- what one send through a messenger answered ----------------------------------------------


@dataclass(frozen=True)
class Delivered:
    message_id: int | None


@dataclass(frozen=True)
class Throttled:
    """429: nobody on this bot may send before ``retry_after`` seconds."""

    retry_after: float
    reason: str


@dataclass(frozen=True)
class Unreachable:
    """The chat refuses messages (blocked, deactivated, not found): stop writing to it."""

    reason: str


@dataclass(frozen=True)
class Refused:
    """This message will never be accepted as it is."""

    reason: str


@dataclass(frozen=True)
class Transient:
    """Network errors, timeouts, 5xx and anything unexpected: worth another try."""

    reason: str


SendResult = Delivered | Throttled | Unreachable | Refused | Transient


# -- outcomes of one delivery attempt, as the outbox records them ----------------------------


@dataclass(frozen=True)
class Sent:
    id: int
    at: datetime
    sent_as: SentAs = SentAs.TELEGRAM


@dataclass(frozen=True)
class Retry:
    """A transient failure: try again at ``at``; the recipient's later rows wait too."""

    id: int
    at: datetime
    error: str
    count_attempt: bool = True  # a 429 is throttling, not a failure of this message


@dataclass(frozen=True)
class Defer:
    """Not tried: wait until ``at`` (quiet hours, recipient not linked yet)."""

    id: int
    at: datetime
    hold: Hold
    note: str


@dataclass(frozen=True)
class Final:
    """The row leaves the queue: dead, failed, undeliverable or expired."""

    id: int
    status: Status
    error: str
    attempted: bool = False
    hold: Hold | None = None


@dataclass(frozen=True)
class Release:
    """Hand the row back untouched (shutting down, or its claim is about to run out)."""

    id: int


@dataclass(frozen=True)
class FlagUnreachable:
    """The partner's chat refused us: stop trying until they come back to the bot."""

    partner_id: int
    chat_id: int


Outcome = Sent | Retry | Defer | Final | Release | FlagUnreachable


# -- timing rules ----------------------------------------------------------------------------


def parse_hhmm(value: str) -> time:
    hour, minute = value.strip().split(":")
    return time(int(hour), int(minute))


def quiet_until(
    now: datetime, timezone: str, quiet_from: str | None, quiet_to: str | None
) -> datetime | None:
    """The end of the quiet period ``now`` falls in (aware UTC), or None if not quiet.

    Times are the partner's wall clock in the park's time zone; a period may cross midnight
    ("23:00"–"08:00"). Equal ends mean no quiet hours rather than a silent day.
    """
    if not quiet_from or not quiet_to:
        return None
    start, end = parse_hhmm(quiet_from), parse_hhmm(quiet_to)
    if start == end:
        return None
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    wall = local.time().replace(tzinfo=None)
    # A period that crosses midnight is quiet after its start or before its end.
    quiet = (start <= wall < end) if start < end else (wall >= start or wall < end)
    if not quiet:
        return None
    day = local.date()
    if start > end and wall >= start:
        day += timedelta(days=1)  # the period ends tomorrow morning
    # Built from the wall-clock time so that a DST change in between is honoured.
    return datetime.combine(day, end, tzinfo=zone).astimezone(now.tzinfo)


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    The fixed half keeps retries from hammering a failing Telegram; the random half spreads
    the rows that failed together (one outage) so they do not all come back at once.
    """
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return delay / 2 + (rng or random).uniform(0, delay / 2)


def local_day(now: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The bounds of the park-local calendar day of ``now``, as aware datetimes."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return start, end


@dataclass(frozen=True)
class ReferralCount:
    """Registrations through one partner's code by channel and source: up to a day's end,
    and within that day (for the daily digest)."""

    partner_id: int
    code: str
    channel: str
    source: str
    total: int
    today: int


@dataclass(frozen=True)
class CleanupReport:
    otps_cleared: int
    conversations_deleted: int
