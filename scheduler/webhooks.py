"""The signed-webhook relay on a timer, run by one process at a time (lease ``webhooks``)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from core.ports import LeaseFactory

log = logging.getLogger("taxireg.webhooks")


class WebhookScheduler:
    name = "webhook relay"

    def __init__(
        self,
        relay: Callable[[], Awaitable[object]],
        leases: LeaseFactory,
        interval_seconds: float,
        start_at: Callable[[], datetime],
    ) -> None:
        self._relay = relay
        # One sender, so an event is not POSTed by two processes that claimed it in turn.
        self._lease = leases("webhooks")
        self._interval = interval_seconds
        self._start_at = start_at
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        scheduler = AsyncIOScheduler()
        scheduler.add_job(
            self._pass,
            IntervalTrigger(seconds=self._interval),
            id="webhooks",
            next_run_time=self._start_at(),
            max_instances=1,
            coalesce=True,
        )
        scheduler.start()
        self._scheduler = scheduler

    async def _pass(self) -> None:
        try:
            if not await self._lease.acquire() or not await self._lease.alive():
                return
            await self._relay()
        except Exception:
            # The next pass retries; what failed is recorded on the rows themselves.
            log.exception("webhook relay pass failed")

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
        await self._lease.release()
