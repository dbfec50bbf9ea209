"""``core.ports.ReminderRepository``: take unfinished registrations due for their reminder.

One UPDATE ... RETURNING marks them reminded, so a conversation is taken once whatever
number of processes run the job: PostgreSQL picks the rows with ``FOR UPDATE SKIP LOCKED``
in a CTE (evaluated once) and re-checks ``reminded_at IS NULL`` on the locked row; SQLite has
one writer, so its ``UPDATE ... WHERE id IN (SELECT ...)`` is atomic on its own. The seek
uses the partial index ``ix_conversations_reminder_due`` (the WHERE below repeats its
condition literally, as a partial index needs). The version is bumped, so a registration
update that read the conversation before the mark retries from a fresh read instead of
writing ``reminded_at`` back to NULL.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal_column, select, text, update
from sqlalchemy.engine import Connection

from core.domain.model import Channel
from core.domain.registration import UNFINISHED, DueReminder, Step
from storage import tables as t

c = t.conversations
_STEPS = ", ".join(f"'{step.value}'" for step in UNFINISHED)
_REMINDABLE = text(
    f"conversations.reminded_at IS NULL AND conversations.stopped_at IS NULL "
    f"AND conversations.step IN ({_STEPS})"
)


class SqlReminders:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def take_due(
        self, *, parks: Collection[str], idle_since: datetime, now: datetime, limit: int
    ) -> list[DueReminder]:
        if not parks or limit <= 0:
            return []
        stmt = self.due_statement(parks=parks, idle_since=idle_since, now=now, limit=limit)
        found = [DueReminder(r.id, r.park_slug, Step(r.step)) for r in self.conn.execute(stmt)]
        return sorted(found, key=lambda r: r.conversation_id)

    def due_statement(
        self, *, parks: Collection[str], idle_since: datetime, now: datetime, limit: int
    ) -> Any:
        """The marking UPDATE ... RETURNING (public so tests can EXPLAIN it)."""
        pick = (
            select(c.c.id)
            .where(
                _REMINDABLE,
                c.c.updated_at <= idle_since,
                c.c.channel == literal_column(f"'{Channel.TELEGRAM.value}'"),
                c.c.park_slug.in_(sorted(parks)),
            )
            .order_by(c.c.updated_at, c.c.id)
            .limit(limit)
        )
        if self.conn.dialect.name != "postgresql":
            return _sqlite_due(parks, idle_since, now, limit)
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        where = [c.c.id == picked.c.id]
        return (
            update(c)
            .where(*where, c.c.reminded_at.is_(None))
            .values(reminded_at=now, version=c.c.version + 1)
            .returning(c.c.id, c.c.park_slug, c.c.step)
        )


# SQLite has no table hints in SQLAlchemy, hence text. Without statistics its planner would
# take the unique (park, channel, user) index and sort every conversation of the park; the
# partial index holds only the remindable ones, in due order, so LIMIT stops early.
_SQLITE_DUE = f"""
UPDATE conversations SET reminded_at = :now, version = version + 1
WHERE id IN (
    SELECT id FROM conversations INDEXED BY ix_conversations_reminder_due
    WHERE reminded_at IS NULL AND stopped_at IS NULL AND step IN ({_STEPS})
      AND updated_at <= :idle_since
      AND channel = '{Channel.TELEGRAM.value}'
      AND park_slug IN :parks
    ORDER BY updated_at, id
    LIMIT :limit)
  AND reminded_at IS NULL
RETURNING id, park_slug, step
"""


def _sqlite_due(
    parks: Collection[str], idle_since: datetime, now: datetime, limit: int, prefix: str = ""
) -> Any:
    """``prefix``: ``EXPLAIN QUERY PLAN`` in tests."""
    return text(prefix + _SQLITE_DUE).bindparams(
        bindparam("now", now, type_=t.UTCDateTime),
        bindparam("idle_since", idle_since, type_=t.UTCDateTime),
        bindparam("parks", sorted(parks), expanding=True),
        bindparam("limit", limit),
    )
