"""The partners' daily digest: registrations through each partner's code, today and in total.

Counts come from the drivers table (the source of truth), not from the outbox, so a digest is
right even for alerts that were folded, expired or never sent. Each digest is an outbox row
with the key ``partner_digest:<partner>:<local date>``: it is delivered like any alert
(rate limits, quiet hours, retries), and two processes running the job on one database, or
a catch-up run after a restart, cannot send it twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.domain.model import Notification, OwnerKind, Park
from core.ports import UnitOfWork
from scheduler.render import PARTNER_DIGEST
from storage import tables as t


@dataclass
class _Counts:
    count: int = 0
    channel: dict[str, int] = field(default_factory=dict)
    source: dict[str, int] = field(default_factory=dict)

    def add(self, channel: str, source: str, n: int) -> None:
        if n:
            self.count += n
            self.channel[channel] = self.channel.get(channel, 0) + n
            self.source[source] = self.source.get(source, 0) + n

    def as_payload(self) -> dict[str, Any]:
        return {"count": self.count, "channel": self.channel, "source": self.source}


def local_day(now: datetime, timezone: str) -> tuple[date, datetime, datetime]:
    """The park-local calendar day of ``now`` and its bounds as aware datetimes."""
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    start = datetime.combine(day, time(0), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return day, start, end


async def partner_digests(engine: AsyncEngine, park: Park, now: datetime) -> list[Notification]:
    """One digest notification per partner of ``park`` with a registration today."""
    day, start, end = local_day(now, park.timezone)
    d, p = t.drivers, t.partners
    in_day = and_(d.c.created_at >= start, d.c.created_at < end)
    today = func.sum(case((in_day, 1), else_=0)).label("today")
    stmt = (
        select(d.c.referrer_id, d.c.channel, d.c.source, func.count().label("total"), today)
        .where(
            d.c.park_slug == park.slug,
            d.c.referrer_kind == OwnerKind.PARTNER.value,
            d.c.created_at < end,
        )
        .group_by(d.c.referrer_id, d.c.channel, d.c.source)
    )
    per_partner: dict[int, tuple[_Counts, _Counts]] = {}
    async with engine.connect() as conn:
        for row in await conn.execute(stmt):
            todays, totals = per_partner.setdefault(row.referrer_id, (_Counts(), _Counts()))
            todays.add(row.channel, row.source, int(row.today or 0))
            totals.add(row.channel, row.source, int(row.total))
        active = [pid for pid, (todays, _) in per_partner.items() if todays.count]
        codes: dict[int, str] = {}
        if active:
            rows = await conn.execute(select(p.c.id, p.c.code).where(p.c.id.in_(active)))
            codes = {r.id: r.code for r in rows}
    return [
        Notification(
            park=park.slug,
            recipient_kind=OwnerKind.PARTNER,
            recipient_id=pid,
            kind=PARTNER_DIGEST,
            payload={
                "date": day.isoformat(),
                "code": codes[pid],
                "today": per_partner[pid][0].as_payload(),
                "total": per_partner[pid][1].as_payload(),
            },
            key=f"{PARTNER_DIGEST}:{pid}:{day.isoformat()}",
            not_before=now,
        )
        for pid in sorted(active)
        if pid in codes
    ]


async def queue_digests(
    engine: AsyncEngine, uow: Callable[[], UnitOfWork], park: Park, now: datetime
) -> int:
    """Write today's digests of ``park`` to the outbox; returns how many were built."""
    digests = await partner_digests(engine, park, now)
    if digests:
        async with uow() as work:
            for notification in digests:
                await work.outbox.add(notification)  # a repeated key is ignored
            await work.commit()
    return len(digests)
