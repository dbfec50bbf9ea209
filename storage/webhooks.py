"""``core.ports.WebhookRepository`` on SQLAlchemy Core (the outgoing webhooks' outbox)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from core.domain.webhooks import WebhookEvent, WebhookRow, WebhookStatus
from storage import tables as t

w = t.webhook_outbox


class SqlWebhooks:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, event: WebhookEvent, now: datetime) -> None:
        self._conn.execute(
            w.insert().values(
                event_id=event.event_id,
                park_slug=event.park,
                kind=event.kind,
                body=event.body,
                status=WebhookStatus.PENDING.value,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )

    def claim(self, now: datetime, limit: int) -> list[WebhookRow]:
        query = (
            select(w)
            .where(w.c.status == WebhookStatus.PENDING.value, w.c.next_attempt_at <= now)
            .order_by(w.c.next_attempt_at, w.c.id)
            .limit(limit)
        )
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_row(r) for r in self._conn.execute(query)]

    def sent(self, row_id: int, now: datetime) -> None:
        self._conn.execute(
            update(w)
            .where(w.c.id == row_id)
            .values(
                status=WebhookStatus.SENT.value,
                attempts=w.c.attempts + 1,
                sent_at=now,
                last_error=None,
            )
        )

    def failed(self, row_id: int, error: str, next_at: datetime, give_up: bool) -> None:
        status = WebhookStatus.FAILED if give_up else WebhookStatus.PENDING
        self._conn.execute(
            update(w)
            .where(w.c.id == row_id)
            .values(
                status=status.value,
                attempts=w.c.attempts + 1,
                next_attempt_at=next_at,
                last_error=error[:200],
            )
        )

    def list(self, status: WebhookStatus | None = None, limit: int = 100) -> list[WebhookRow]:
        query = select(w).order_by(w.c.id.desc()).limit(limit)
        if status is not None:
            query = query.where(w.c.status == status.value)
        return [_row(r) for r in self._conn.execute(query)]

    def requeue(self, row_id: int, now: datetime) -> bool:
        done = self._conn.execute(
            update(w)
            .where(w.c.id == row_id, w.c.status != WebhookStatus.SENT.value)
            .values(status=WebhookStatus.PENDING.value, attempts=0, next_attempt_at=now)
        )
        return bool(done.rowcount)


def _row(r: object) -> WebhookRow:
    m = r._mapping  # type: ignore[attr-defined]
    return WebhookRow(
        id=m["id"],
        event_id=m["event_id"],
        park=m["park_slug"],
        kind=m["kind"],
        body=m["body"],
        status=WebhookStatus(m["status"]),
        attempts=m["attempts"],
        next_attempt_at=m["next_attempt_at"],
        last_error=m["last_error"],
        created_at=m["created_at"],
        sent_at=m["sent_at"],
    )
