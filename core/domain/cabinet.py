"""The partner cabinet's facts: sessions, referrals as a partner sees them, and the funnel.

The funnel of one code, in stages that only narrow:
  visits (landing page) → opened (a bot or the app with the code) → phone confirmed →
  registered.
A registered driver passed every stage, so counts never grow along the funnel. A driver who
typed the code (never opened a link) still counts as opened: the code brought them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from core.domain.landing import VisitCount
from core.domain.model import Channel, Source


@dataclass(frozen=True)
class PartnerSession:
    partner_id: int
    expires_at: datetime
    revoked: bool = False


@dataclass(frozen=True)
class ReferralRow:
    """A driver registered with a partner's code, as the partner may see them."""

    id: int
    name: str | None
    phone: str
    channel: Channel
    source: Source
    source_tag: str | None
    registered_at: datetime
    # The driver's personal data was erased on request: name and phone are placeholders.
    forgotten: bool = False
    # Got the one reminder of an unfinished registration before finishing it.
    reminded: bool = False


@dataclass(frozen=True)
class Started:
    """Someone who reached a bot or the app with the code and has not registered yet."""

    channel: Channel
    tag: str | None
    confirmed: bool  # the phone is confirmed (waiting at the referral step)
    at: datetime
    reminded: bool = False  # got the one reminder of an unfinished registration


class FunnelBy(StrEnum):
    DAY = "day"
    SOURCE = "source"
    CHANNEL = "channel"


# Landing visits have no channel: the page is the web.
WEB = "web"
STAGES = ("visits", "opened", "phone_confirmed", "registered")
_REMINDERS = ("reminded", "reminded_registered")


@dataclass(frozen=True)
class FunnelRow:
    key: str
    visits: int = 0
    opened: int = 0
    phone_confirmed: int = 0
    registered: int = 0
    # Beside the stages: registrations that got the reminder, and those of them that then
    # finished (counted on the day they started or registered, like the stages).
    reminded: int = 0
    reminded_registered: int = 0


def funnel(
    by: FunnelBy,
    visits: Iterable[VisitCount],
    started: Iterable[Started],
    registered: Iterable[ReferralRow],
    zone: ZoneInfo,
    since: date,
    until: date,
) -> list[FunnelRow]:
    """Rows per day, source or channel of the period (days in the park's time zone)."""
    counts: dict[str, dict[str, int]] = {}

    def add(key: str, *stages: str, n: int = 1) -> None:
        row = counts.setdefault(key, dict.fromkeys((*STAGES, *_REMINDERS), 0))
        for stage in stages:
            row[stage] += n

    def inside(at: datetime) -> date | None:
        day = at.astimezone(zone).date()
        return day if since <= day <= until else None

    for visit in visits:
        if since <= visit.day <= until:
            add(_key(by, visit.day, visit.source, None), "visits", n=visit.count)
    for person in started:
        day = inside(person.at)
        if day is not None:
            key = _key(by, day, person.tag, person.channel)
            add(key, "opened", *(("phone_confirmed",) if person.confirmed else ()))
            if person.reminded:
                add(key, "reminded")
    for driver in registered:
        day = inside(driver.registered_at)
        if day is not None:
            key = _key(by, day, driver.source_tag, driver.channel)
            add(key, "opened", "phone_confirmed", "registered")
            if driver.reminded:
                add(key, *_REMINDERS)
    return [FunnelRow(key, **row) for key, row in sorted(counts.items())]


def _key(by: FunnelBy, day: date, tag: str | None, channel: Channel | None) -> str:
    if by is FunnelBy.DAY:
        return day.isoformat()
    if by is FunnelBy.SOURCE:
        return tag or ""
    return channel.value if channel is not None else WEB
