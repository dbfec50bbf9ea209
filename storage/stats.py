"""Counts for ``taxireg status``: a handful of GROUP BY queries, read-only, on a synchronous
connection (``AsyncConnection.run_sync`` or ``SqlDatabase.run_on_connection``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.engine import Connection

from core.domain.registration import Step
from storage import tables as t


@dataclass
class ParkCounts:
    drivers: int = 0
    partners: int = 0
    partners_linked: int = 0  # with a Telegram chat to alert
    partners_unreachable: int = 0  # linked, but the chat stopped accepting messages
    conversations: dict[str, int] = field(default_factory=dict)  # by step
    reminded: int = 0  # unfinished registrations that got their one reminder
    reminded_registered: int = 0  # ... and were finished after it


@dataclass
class Stats:
    parks: dict[str, ParkCounts]
    outbox: dict[str, int]  # by status


def collect(conn: Connection) -> Stats:
    parks: dict[str, ParkCounts] = {}

    def park(slug: str) -> ParkCounts:
        return parks.setdefault(slug, ParkCounts())

    d, p, c, o = t.drivers, t.partners, t.conversations, t.outbox
    for slug, count in conn.execute(select(d.c.park_slug, func.count()).group_by(d.c.park_slug)):
        park(slug).drivers = count
    linked = func.count(p.c.telegram_chat_id)
    unreachable = func.sum(cast(p.c.unreachable, Integer))
    for slug, count, n_linked, n_unreachable in conn.execute(
        select(p.c.park_slug, func.count(), linked, unreachable).group_by(p.c.park_slug)
    ):
        counts = park(slug)
        counts.partners, counts.partners_linked = count, n_linked
        counts.partners_unreachable = int(n_unreachable or 0)
    for slug, step, count in conn.execute(
        select(c.c.park_slug, c.c.step, func.count())
        .group_by(c.c.park_slug, c.c.step)
        .order_by(c.c.park_slug, c.c.step)
    ):
        park(slug).conversations[step] = count
    reminded = c.c.reminded_at.is_not(None)
    finished = cast(c.c.step == Step.DONE.value, Integer)
    for slug, count, registered in conn.execute(
        select(c.c.park_slug, func.count(), func.sum(finished))
        .where(reminded)
        .group_by(c.c.park_slug)
    ):
        park(slug).reminded, park(slug).reminded_registered = count, int(registered or 0)
    outbox = {
        status: count
        for status, count in conn.execute(
            select(o.c.status, func.count()).group_by(o.c.status).order_by(o.c.status)
        )
    }
    return Stats(parks, outbox)
