"""``core.ports.VisitRepository`` on SQLAlchemy Core, for one synchronous connection.

A visit is one ``INSERT ... ON CONFLICT DO UPDATE SET count = count + 1``: concurrent visits
of one code never lose a count, and there is no read before the write to race with.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from core.domain.landing import VisitCount
from storage import tables as t


class SqlVisits:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, park: str, code: str, source: str, day: date) -> None:
        v = t.landing_visits
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        insert = dialect.insert(v).values(park=park, code=code, source=source, day=day, count=1)
        self._conn.execute(
            insert.on_conflict_do_update(
                index_elements=[v.c.code, v.c.source, v.c.day],
                set_={"count": v.c["count"] + 1},
            )
        )

    def counts(
        self,
        *,
        park: str | None = None,
        code: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> list[VisitCount]:
        v = t.landing_visits.c
        query = select(v.park, v.code, v.source, v.day, v["count"]).order_by(
            v.day, v.code, v.source
        )
        if park is not None:
            query = query.where(v.park == park)
        if code is not None:
            query = query.where(v.code == code)
        if since is not None:
            query = query.where(v.day >= since)
        if until is not None:
            query = query.where(v.day <= until)
        # Unpacked by position: ``Row.count`` is the tuple method, not the column.
        return [
            VisitCount(park_, code_, source, day, count)
            for park_, code_, source, day, count in self._conn.execute(query)
        ]
