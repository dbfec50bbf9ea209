"""Pure timing rules of delivery: quiet hours and retry backoff."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo


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
