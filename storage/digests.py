"""``core.ports.DigestRepository``: registrations per partner code for the daily digest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.engine import Connection

from core.domain.delivery import ReferralCount
from core.domain.model import OwnerKind
from storage import tables as t


class SqlDigests:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def referrals(self, park: str, day_start: datetime, day_end: datetime) -> list[ReferralCount]:
        d, p = t.drivers, t.partners
        in_day = and_(d.c.created_at >= day_start, d.c.created_at < day_end)
        today = func.sum(case((in_day, 1), else_=0))
        stmt = (
            select(d.c.referrer_id, p.c.code, d.c.channel, d.c.source, func.count(), today)
            .join(p, p.c.id == d.c.referrer_id)
            .where(
                d.c.park_slug == park,
                d.c.referrer_kind == OwnerKind.PARTNER.value,
                d.c.created_at < day_end,
            )
            .group_by(d.c.referrer_id, p.c.code, d.c.channel, d.c.source)
        )
        return [
            ReferralCount(pid, code, channel, source, int(total), int(today or 0))
            for pid, code, channel, source, total, today in self.conn.execute(stmt)
        ]
