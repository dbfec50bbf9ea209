"""How often one-time codes may be sent: pure rules over send times, no storage, no clock.

A code costs money and lands on someone's phone, so three limits apply together:
- one chat waits a pause between any two codes, whatever number it asks for;
- one chat gets a few codes an hour;
- one phone number gets a few codes per 10 minutes and per day, counted over every chat,
  channel and park (many accounts pumping one number is the expensive attack).
A refusal says which limit and how long to wait, so the driver is told when to try again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


@dataclass(frozen=True)
class Quota:
    """At most ``count`` sends within any ``per`` (a sliding window)."""

    count: int
    per: timedelta

    def __post_init__(self) -> None:
        if self.count < 1 or self.per <= timedelta(0):
            raise ValueError(f"a quota needs a count >= 1 and a positive window: {self}")

    def wait(self, now: datetime, sends: Iterable[datetime]) -> float:
        """Seconds until one more send fits, 0 if it fits now."""
        # Times after ``now`` (another process's clock running ahead) count: refusing a code
        # is cheap, an extra SMS is not.
        recent = sorted(t for t in sends if t > now - self.per)
        if len(recent) < self.count:
            return 0.0
        # The send that must leave the window for the next one to fit.
        return max(0.0, (recent[-self.count] + self.per - now).total_seconds())


# Defaults of issue 10: at most 3 codes per 10 minutes and 10 per day to one number.
PHONE_QUOTAS = (Quota(3, timedelta(minutes=10)), Quota(10, timedelta(days=1)))
CHAT_WINDOW = timedelta(hours=1)  # the window of a chat's hourly quota


class SmsLimit(StrEnum):
    CHAT_PAUSE = "chat_pause"  # the pause between two codes from one chat, to any number
    CHAT_QUOTA = "chat_quota"  # too many codes from one chat within the hour
    PHONE_QUOTA = "phone_quota"  # too many codes to one number from all chats and channels


# The catalog text that explains each refusal; every one takes ``unit`` and ``amount``.
TEXT_KEYS = {
    SmsLimit.CHAT_PAUSE: "sms-wait-chat",
    SmsLimit.CHAT_QUOTA: "sms-limit-chat",
    SmsLimit.PHONE_QUOTA: "sms-limit-phone",
}


@dataclass(frozen=True)
class SmsWait:
    """A refused send: which limit, and whole seconds until a send can succeed."""

    limit: SmsLimit
    seconds: int

    @property
    def text_key(self) -> str:
        return TEXT_KEYS[self.limit]

    @property
    def args(self) -> dict[str, object]:
        """``unit`` (seconds, minutes or hours) and ``amount``, rounded up: "try again in
        3 min" must not come a second too early."""
        if self.seconds < 60:
            return {"unit": "seconds", "amount": self.seconds}
        if self.seconds < 2 * 3600:
            return {"unit": "minutes", "amount": math.ceil(self.seconds / 60)}
        return {"unit": "hours", "amount": math.ceil(self.seconds / 3600)}


def pause_wait(now: datetime, last_sent: datetime | None, pause: timedelta) -> float:
    """Seconds until ``pause`` has passed since the chat's last code, whatever its number."""
    if last_sent is None:
        return 0.0
    return max(0.0, (last_sent + pause - now).total_seconds())


def window_wait(now: datetime, window_start: datetime | None, sent: int, quota: Quota) -> float:
    """A fixed window (what a conversation stores: its start and a count): seconds until
    the window ends if ``sent`` already reached the quota, else 0."""
    if window_start is None or now - window_start >= quota.per or sent < quota.count:
        return 0.0
    return max(0.0, (window_start + quota.per - now).total_seconds())


def phone_wait(now: datetime, sends: Iterable[datetime], quotas: Iterable[Quota]) -> float:
    """Seconds until every quota on the number allows one more code."""
    times = list(sends)
    return max((quota.wait(now, times) for quota in quotas), default=0.0)


def lookback(quotas: Iterable[Quota]) -> timedelta:
    """How far back the send history must be read to judge ``quotas``."""
    return max((quota.per for quota in quotas), default=timedelta(0))


def refusal(waits: Mapping[SmsLimit, float]) -> SmsWait | None:
    """None if every limit allows a send now, else the longest wait: after it, all allow."""
    limit, seconds = max(waits.items(), key=lambda item: item[1], default=(None, 0.0))
    if limit is None or seconds <= 0:
        return None
    return SmsWait(limit, math.ceil(seconds))
