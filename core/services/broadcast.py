"""Broadcasts (issue 13): an operator's message to a park's partners or drivers.

A broadcast is queued, never sent here: its messages are outbox rows, one per recipient,
sent by the alert relay (``core.services.delivery``) with the alerts' pacing, retries, quiet
hours and 403 handling. The CLI and the admin API both go through this service.

- **Who.** Partners of the park with a Telegram chat that accepts messages; drivers of the
  park who opted in to mailings (``/news``, withdrawn by ``/stop``) and have a Telegram chat
  with the park's bot. The others are counted as ``skipped``: the relay sends through
  Telegram only, so drivers who registered in VK are not reached (README says so).
- **Once.** The broadcast's idempotency key (by default a hash of park, audience, filter and
  text) is unique in the database: the same command run twice finds the first broadcast and
  queues nothing new; each recipient's row has its own unique key too.
- **In batches.** Rows are written ``batch_size`` recipients per transaction (one SELECT and
  one INSERT each); an interrupted queueing resumes where it stopped when run again.
- **Cancel.** Marks the broadcast and its unsent rows cancelled; the relay drops rows of a
  cancelled broadcast it had already claimed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

from core.domain.broadcast import KEY_CHARS as _KEY_CHARS
from core.domain.broadcast import (
    Audience,
    Audit,
    BadBroadcast,
    Broadcast,
    BroadcastFilter,
    BroadcastState,
    NoSuchBroadcast,
    Progress,
    check_text,
    default_key,
)
from core.domain.model import Park
from core.ports import Clock, Database, UnitOfWork
from core.services.parks import require_park

log = logging.getLogger("taxireg.broadcast")


@dataclass(frozen=True)
class BroadcastOptions:
    batch_size: int = 500
    """Recipients queued per transaction."""
    per_bot_rate: float = 25.0
    """Rows are due ``1/rate`` seconds apart (the bot's pace), so alerts written meanwhile
    fall in between instead of waiting behind a whole broadcast."""


@dataclass(frozen=True)
class Plan:
    """What a broadcast would do now (``--dry-run``): who it reaches and how it reads."""

    park: Park
    audience: Audience
    filter: BroadcastFilter
    text: str
    key: str
    audit: Audit
    existing: Broadcast | None  # a broadcast with this key was already made


class BroadcastService:
    def __init__(
        self,
        db: Database,
        parks: Mapping[str, Park],
        clock: Clock,
        options: BroadcastOptions | None = None,
    ) -> None:
        self._db = db
        self._parks = dict(parks)
        self._clock = clock
        self.options = options or BroadcastOptions()

    async def plan(
        self,
        park_slug: str,
        audience: Audience,
        flt: BroadcastFilter,
        text: str,
        key: str | None = None,
    ) -> Plan:
        park = require_park(self._parks, park_slug)
        text = check_text(text)
        key = _check_key(key) if key else default_key(park.slug, audience, flt, text)
        selection = flt.selection(park.slug, audience, park.timezone)

        def work(uow: UnitOfWork) -> tuple[Audit, Broadcast | None]:
            return uow.broadcasts.audit(selection), uow.broadcasts.by_key(key)

        audit, existing = await self._db.read(work)
        return Plan(park, audience, flt, text, key, audit, existing)

    async def create(
        self, plan: Plan, actor: str, progress: Callable[[int], None] | None = None
    ) -> tuple[Broadcast, bool]:
        """Make the broadcast and queue its rows; (broadcast, False) if the key was used.

        ``progress`` is called with the number of recipients read by each batch. A
        broadcast found by its key whose queueing was interrupted is resumed.
        """
        now = self._clock.now()

        def make(uow: UnitOfWork) -> tuple[Broadcast, bool]:
            return uow.broadcasts.create(
                park=plan.park.slug,
                audience=plan.audience,
                filter=plan.filter.canonical(),
                text=plan.text,
                key=plan.key,
                actor=actor,
                now=now,
            )

        broadcast, created = await self._db.run(make)
        if created:
            log.info(
                "broadcast created",
                extra={"park": broadcast.park, "broadcast": broadcast.id, "actor": actor},
            )
        await self._queue(broadcast, progress)
        found = await self.get(broadcast.id)
        return found.broadcast, created

    async def resume(self, broadcast_id: int) -> Progress:
        """Finish queueing a broadcast whose queueing was interrupted."""
        progress = await self.get(broadcast_id)
        await self._queue(progress.broadcast, None)
        return await self.get(broadcast_id)

    async def _queue(self, broadcast: Broadcast, progress: Callable[[int], None] | None) -> None:
        if broadcast.state is not BroadcastState.QUEUEING:
            return
        park = require_park(self._parks, broadcast.park)
        flt = BroadcastFilter.parse([p for p in broadcast.filter.split(",") if p])
        selection = flt.selection(park.slug, broadcast.audience, park.timezone)
        limit = self.options.batch_size
        spacing = timedelta(seconds=1 / self.options.per_bot_rate)
        while True:
            read = await self._db.run(
                lambda uow: uow.broadcasts.queue_batch(broadcast.id, selection, limit, spacing)
            )
            if not read:  # 0: everyone is queued; None: cancelled meanwhile
                return
            if progress is not None:
                progress(read)

    async def get(self, broadcast_id: int) -> Progress:
        def work(uow: UnitOfWork) -> Progress | None:
            broadcast = uow.broadcasts.get(broadcast_id)
            if broadcast is None:
                return None
            return Progress(broadcast, uow.broadcasts.counts(broadcast_id))

        found = await self._db.read(work)
        if found is None:
            raise NoSuchBroadcast(broadcast_id)
        return found

    async def list(self, park: str | None = None, limit: int = 50) -> list[Progress]:
        def work(uow: UnitOfWork) -> list[Progress]:
            return [
                Progress(b, uow.broadcasts.counts(b.id)) for b in uow.broadcasts.list(park, limit)
            ]

        return await self._db.read(work)

    async def cancel(self, broadcast_id: int, actor: str) -> tuple[Progress, int]:
        """Cancel its unsent rows; (progress, rows cancelled now)."""
        now = self._clock.now()
        cancelled = await self._db.run(lambda uow: uow.broadcasts.cancel(broadcast_id, now))
        if cancelled is None:
            raise NoSuchBroadcast(broadcast_id)
        log.info(
            "broadcast cancelled",
            extra={"broadcast": broadcast_id, "actor": actor, "rows": cancelled},
        )
        return await self.get(broadcast_id), cancelled


def _check_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > _KEY_CHARS:
        raise BadBroadcast(f"the idempotency key must be 1-{_KEY_CHARS} characters")
    return key
