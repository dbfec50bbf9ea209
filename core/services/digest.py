"""The partners' daily digest: registrations through each partner's code, today and in total.

Counts come from the drivers table (the source of truth), not from the outbox, so a digest is
right even for alerts that were folded, expired or never sent. Each digest is an outbox row
with the key ``partner_digest:<partner>:<local date>``: it is delivered like any alert
(pacing, quiet hours, retries), and two processes running the job on one database, or a
catch-up run after a restart, cannot send it twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from core.domain.delivery import PARTNER_DIGEST, ReferralCount, local_day
from core.domain.model import Notification, OwnerKind, Park
from core.ports import Clock, Database, UnitOfWork

log = logging.getLogger("taxireg.notify")


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


def partner_digests(park: Park, now: datetime, counts: list[ReferralCount]) -> list[Notification]:
    """One digest notification per partner of ``park`` with a registration today."""
    day = now.astimezone(ZoneInfo(park.timezone)).date()
    per_partner: dict[int, tuple[str, _Counts, _Counts]] = {}
    for row in counts:
        fresh = (row.code, _Counts(), _Counts())
        _, todays, totals = per_partner.setdefault(row.partner_id, fresh)
        todays.add(row.channel, row.source, row.today)
        totals.add(row.channel, row.source, row.total)
    return [
        Notification(
            park=park.slug,
            recipient_kind=OwnerKind.PARTNER,
            recipient_id=pid,
            kind=PARTNER_DIGEST,
            payload={
                "date": day.isoformat(),
                "code": code,
                "today": todays.as_payload(),
                "total": totals.as_payload(),
            },
            key=f"{PARTNER_DIGEST}:{pid}:{day.isoformat()}",
            not_before=now,
        )
        for pid, (code, todays, totals) in sorted(per_partner.items())
        if todays.count
    ]


class DigestService:
    def __init__(self, db: Database, parks: Mapping[str, Park], clock: Clock) -> None:
        self.db = db
        self.parks = dict(parks)
        self.clock = clock

    async def queue(self, park: str, now: datetime | None = None) -> int:
        """Write today's digests of ``park`` to the outbox; returns how many were built."""
        the_park = self.parks[park]
        at = now or self.clock.now()
        start, end = local_day(at, the_park.timezone)

        def work(uow: UnitOfWork) -> int:
            digests = partner_digests(the_park, at, uow.digests.referrals(park, start, end))
            for notification in digests:
                uow.outbox.add(notification)  # a repeated key is ignored
            return len(digests)

        queued = await self.db.run(work)
        log.info("digest: %d partner digest(s) queued for park %s", queued, park)
        return queued
