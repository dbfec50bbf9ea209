"""``core.ports.BroadcastRepository``: broadcasts and their outbox rows.

A broadcast is queued in batches, one transaction each: the batch locks the broadcast's row
(PostgreSQL ``FOR UPDATE``; SQLite has one writer anyway), reads the next page of its
audience by id after ``queued_through`` (one SELECT), writes the outbox rows of the
reachable ones (one INSERT of many rows) and moves ``queued_through`` on. A cancel takes the
same row lock, so it never interleaves with a batch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, cast, exists, false, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core.domain.broadcast import Audience, Audit, Broadcast, BroadcastState, Selection
from core.domain.delivery import BROADCAST, Status
from core.domain.model import Channel, OwnerKind
from storage import tables as t

b, o = t.broadcasts, t.outbox


def _broadcast(row: Any) -> Broadcast:
    return Broadcast(
        id=row.id,
        park=row.park_slug,
        audience=Audience(row.audience),
        filter=row.filter,
        text=row.text,
        key=row.idempotency_key,
        state=BroadcastState(row.state),
        queued=row.queued,
        skipped=row.skipped,
        created_by=row.created_by,
        created_at=row.created_at,
        cancelled_at=row.cancelled_at,
    )


def _audience(selection: Selection) -> tuple[Any, Any, Any]:
    """(id column, conditions, reachable) of the selection's people, reachable meaning a
    Telegram chat the relay can write to."""
    if selection.audience is Audience.PARTNERS:
        p = t.partners
        conditions: list[Any] = [p.c.park_slug == selection.park]
        created = p.c.created_at
        reachable = and_(p.c.telegram_chat_id.is_not(None), p.c.unreachable == false())
        ident = p.c.id
    else:
        d, c = t.drivers, t.conversations
        conditions = [
            d.c.park_slug == selection.park,
            d.c.mailing_at.is_not(None),
            d.c.forgotten_at.is_(None),
        ]
        if selection.code is not None:
            conditions.append(d.c.entered_code == selection.code)
        if selection.source is not None:
            conditions.append(d.c.source == selection.source.value)
        if selection.channel is not None:
            conditions.append(d.c.channel == selection.channel.value)
        created = d.c.created_at
        # A driver registered in VK has no Telegram chat unless they also wrote to the bot.
        reachable = exists().where(
            c.c.driver_id == d.c.id,
            c.c.park_slug == d.c.park_slug,
            c.c.channel == Channel.TELEGRAM.value,
        )
        ident = d.c.id
    if selection.since is not None:
        conditions.append(created >= selection.since)
    if selection.until is not None:
        conditions.append(created < selection.until)
    return ident, conditions, reachable


class SqlBroadcasts:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    @property
    def _postgres(self) -> bool:
        return self.conn.dialect.name == "postgresql"

    def create(
        self,
        *,
        park: str,
        audience: Audience,
        filter: str,
        text: str,
        key: str,
        actor: str,
        now: datetime,
    ) -> tuple[Broadcast, bool]:
        insert = postgresql.insert if self._postgres else sqlite.insert
        row = self.conn.execute(
            insert(b)
            .values(
                park_slug=park,
                audience=audience.value,
                filter=filter,
                text=text,
                idempotency_key=key,
                state=BroadcastState.QUEUEING.value,
                queued=0,
                skipped=0,
                queued_through=0,
                created_by=actor,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[b.c.idempotency_key])
            .returning(*b.c)
        ).first()
        if row is not None:
            return _broadcast(row), True
        existing = self.by_key(key)
        if existing is None:  # pragma: no cover - a conflict means the row exists
            raise IntegrityError("broadcast key conflict without a row", None, Exception())
        return existing, False

    def get(self, broadcast_id: int) -> Broadcast | None:
        row = self.conn.execute(select(b).where(b.c.id == broadcast_id)).first()
        return _broadcast(row) if row else None

    def by_key(self, key: str) -> Broadcast | None:
        row = self.conn.execute(select(b).where(b.c.idempotency_key == key)).first()
        return _broadcast(row) if row else None

    def list(self, park: str | None = None, limit: int = 50) -> list[Broadcast]:
        stmt = select(b).order_by(b.c.id.desc()).limit(limit)
        if park is not None:
            stmt = stmt.where(b.c.park_slug == park)
        return [_broadcast(r) for r in self.conn.execute(stmt)]

    def audit(self, selection: Selection) -> Audit:
        _, conditions, reachable = _audience(selection)
        table = t.partners if selection.audience is Audience.PARTNERS else t.drivers
        total, ok = self.conn.execute(
            select(func.count(), func.coalesce(func.sum(cast(reachable, Integer)), 0))
            .select_from(table)
            .where(*conditions)
        ).one()
        return Audit(reachable=int(ok), skipped=int(total) - int(ok))

    def queue_batch(
        self, broadcast_id: int, selection: Selection, limit: int, spacing: timedelta
    ) -> int | None:
        lock = select(b.c.state, b.c.queued_through, b.c.queued, b.c.created_at).where(
            b.c.id == broadcast_id
        )
        if self._postgres:
            lock = lock.with_for_update()
        head = self.conn.execute(lock).first()
        if head is None or head.state != BroadcastState.QUEUEING.value:
            return None
        ident, conditions, reachable = _audience(selection)
        page = list(
            self.conn.execute(
                select(ident.label("id"), reachable.label("ok"))
                .where(*conditions, ident > head.queued_through)
                .order_by(ident)
                .limit(limit)
            )
        )
        if not page:
            self.conn.execute(
                update(b).where(b.c.id == broadcast_id).values(state=BroadcastState.QUEUED.value)
            )
            return 0
        kind = OwnerKind.PARTNER if selection.audience is Audience.PARTNERS else OwnerKind.DRIVER
        chosen = [r.id for r in page if r.ok]
        if chosen:
            # Due one after another at the bot's pace: alerts written meanwhile fall in
            # between instead of waiting behind the whole broadcast (claims go by due time).
            first = head.created_at + spacing * head.queued
            insert = postgresql.insert if self._postgres else sqlite.insert
            self.conn.execute(
                insert(o)
                .values(
                    [
                        {
                            "park_slug": selection.park,
                            "recipient_kind": kind.value,
                            "recipient_id": rid,
                            "kind": BROADCAST,
                            "payload": {"broadcast_id": broadcast_id},
                            "idempotency_key": f"broadcast:{broadcast_id}:{kind.value}:{rid}",
                            "status": Status.PENDING.value,
                            "attempts": 0,
                            "next_attempt_at": first + spacing * i,
                            "created_at": head.created_at,
                            "broadcast_id": broadcast_id,
                        }
                        for i, rid in enumerate(chosen)
                    ]
                )
                .on_conflict_do_nothing(index_elements=[o.c.idempotency_key])
            )
        self.conn.execute(
            update(b)
            .where(b.c.id == broadcast_id)
            .values(
                queued_through=page[-1].id,
                queued=b.c.queued + len(chosen),
                skipped=b.c.skipped + (len(page) - len(chosen)),
            )
        )
        return len(page)

    def counts(self, broadcast_id: int) -> dict[Status, int]:
        stmt = (
            select(o.c.status, func.count())
            .where(o.c.broadcast_id == broadcast_id)
            .group_by(o.c.status)
        )
        return {Status(status): n for status, n in self.conn.execute(stmt)}

    def cancel(self, broadcast_id: int, now: datetime) -> int | None:
        lock = select(b.c.state).where(b.c.id == broadcast_id)
        if self._postgres:
            lock = lock.with_for_update()
        state = self.conn.execute(lock).scalar_one_or_none()
        if state is None:
            return None
        if state != BroadcastState.CANCELLED.value:
            self.conn.execute(
                update(b)
                .where(b.c.id == broadcast_id)
                .values(state=BroadcastState.CANCELLED.value, cancelled_at=now)
            )
        # Rows a relay holds are on their way (at most one claimed batch); the relay also
        # drops rows of a cancelled broadcast it claims later (core.services.delivery).
        done = self.conn.execute(
            update(o)
            .where(
                o.c.broadcast_id == broadcast_id,
                o.c.status == literal(Status.PENDING.value),
                (o.c.claimed_until.is_(None)) | (o.c.claimed_until <= now),
            )
            .values(
                status=Status.CANCELLED.value,
                hold=None,
                last_error="the broadcast was cancelled",
            )
        )
        return int(done.rowcount)
