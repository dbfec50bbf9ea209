"""The scheduler's jobs as plain coroutines of (context, now).

APScheduler only decides *when* they run; tests call them directly with a fake clock, so
quiet hours, digests and expiry are tested without waiting for real hours.
"""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import NotificationSettings
from core.domain.model import Park
from core.ports import Clock, UnitOfWork
from scheduler.cleanup import CleanupReport, cleanup
from scheduler.delivery import Relay, Report
from scheduler.digest import queue_digests
from scheduler.telegram_sender import TelegramSender
from storage.outbox import OutboxStore

if TYPE_CHECKING:
    from app.bootstrap import Container

log = logging.getLogger("taxireg.notify")


def worker_name() -> str:
    """Who holds a claim: host and pid for operators, a random tail for uniqueness."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class JobContext:
    relay: Relay
    store: OutboxStore
    sender: TelegramSender
    engine: AsyncEngine
    uow: Callable[[], UnitOfWork]
    parks: dict[str, Park]
    clock: Clock
    settings: NotificationSettings

    @classmethod
    def from_container(
        cls,
        container: Container,
        *,
        sender: TelegramSender | None = None,
        worker: str | None = None,
        rng: random.Random | None = None,
    ) -> JobContext:
        settings = container.settings.notifications
        sender = sender or TelegramSender.from_settings(container.settings)
        store = OutboxStore(container.engine)
        relay = Relay(
            store=store,
            sender=sender,
            catalog=container.catalog,
            parks=container.parks,
            clock=container.clock,
            settings=settings,
            worker=worker or worker_name(),
            rng=rng,
        )
        return cls(
            relay=relay,
            store=store,
            sender=sender,
            engine=container.engine,
            uow=container.uow,
            parks=dict(container.parks),
            clock=container.clock,
            settings=settings,
        )

    async def aclose(self) -> None:
        await self.sender.close()


async def deliver_once(ctx: JobContext, now: datetime | None = None) -> Report:
    return await ctx.relay.run(now)


async def digest_once(ctx: JobContext, park: str, now: datetime | None = None) -> int:
    queued = await queue_digests(ctx.engine, ctx.uow, ctx.parks[park], now or ctx.clock.now())
    log.info("digest: %d partner digest(s) queued for park %s", queued, park)
    return queued


async def cleanup_once(ctx: JobContext, now: datetime | None = None) -> CleanupReport:
    days = timedelta(days=ctx.settings.abandoned_registration_days)
    report = await cleanup(ctx.engine, now or ctx.clock.now(), days)
    if report.otps_cleared or report.conversations_deleted:
        log.info(
            "cleanup: %d expired one-time code(s) cleared, %d abandoned registration(s) deleted",
            report.otps_cleared,
            report.conversations_deleted,
        )
    return report
