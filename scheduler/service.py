"""``taxireg run``'s notification part: an APScheduler 3 AsyncIOScheduler with three jobs.

* ``deliver`` every ``notifications.deliver_interval_seconds``: one relay pass;
* ``digest:<park>`` daily at ``notifications.digest_time`` in each park's time zone;
* ``cleanup`` hourly: expired one-time codes, abandoned registrations.

Stopping is graceful: the relay stops claiming, requests already sent to Telegram finish and
are recorded, and every row this process still holds is released for others at once
(instead of after its lease).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from scheduler.jobs import JobContext, cleanup_once, deliver_once, digest_once
from scheduler.policy import parse_hhmm
from scheduler.telegram_sender import TelegramSender

if TYPE_CHECKING:
    from app.bootstrap import Container

log = logging.getLogger("taxireg.notify")

CLEANUP_EVERY = timedelta(hours=1)
# A digest missed by up to this much (process restarting around digest time) still runs.
DIGEST_GRACE = timedelta(hours=1)


class NotificationScheduler:
    name = "notification scheduler"

    def __init__(
        self,
        container: Container,
        *,
        sender: TelegramSender | None = None,
        worker: str | None = None,
    ) -> None:
        self.container = container
        self.ctx = JobContext.from_container(container, sender=sender, worker=worker)
        self._scheduler: AsyncIOScheduler | None = None

    async def start(self) -> None:
        settings = self.ctx.settings
        scheduler = AsyncIOScheduler()
        now = datetime.now().astimezone()
        scheduler.add_job(
            self._deliver,
            IntervalTrigger(seconds=settings.deliver_interval_seconds),
            id="deliver",
            next_run_time=now,  # drain what queued up while we were down
            # A pass drains a backlog for as long as it takes; a run that starts meanwhile
            # returns at once (Relay.run), where max_instances=1 would log a warning each time.
            max_instances=2,
            coalesce=True,
        )
        scheduler.add_job(
            self._cleanup,
            IntervalTrigger(seconds=CLEANUP_EVERY.total_seconds()),
            id="cleanup",
            next_run_time=now,
            max_instances=1,
            coalesce=True,
        )
        at = settings.digest_clock
        for slug in sorted(self.ctx.sender.parks):
            park = self.ctx.parks[slug]
            scheduler.add_job(
                self._digest,
                CronTrigger(hour=at.hour, minute=at.minute, timezone=ZoneInfo(park.timezone)),
                args=(slug,),
                id=f"digest:{slug}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
            )
            if self._digest_just_missed(park.timezone):
                scheduler.add_job(self._digest, args=(slug,), id=f"digest-catch-up:{slug}")
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "notification scheduler started (worker %s, parks %s)",
            self.ctx.relay.worker,
            ", ".join(sorted(self.ctx.sender.parks)) or "-",
        )

    def _digest_just_missed(self, timezone: str) -> bool:
        # A cron trigger only looks forward: a restart at 20:00:05 would skip today's digest.
        local = self.ctx.clock.now().astimezone(ZoneInfo(timezone))
        due = datetime.combine(local.date(), parse_hhmm(self.ctx.settings.digest_time))
        due = due.replace(tzinfo=local.tzinfo)
        return timedelta(0) <= local - due < DIGEST_GRACE

    async def stop(self) -> None:
        released = await self.ctx.relay.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the next loop turn
        await self.ctx.aclose()
        log.info("notification scheduler stopped, %d claimed row(s) released", released)

    # Job bodies log and swallow errors: APScheduler would log them too, but without saying
    # which part of taxireg failed, and a failed run must not stop the next one.

    async def _deliver(self) -> None:
        try:
            await deliver_once(self.ctx)
        except Exception:
            log.exception("delivery pass failed")

    async def _digest(self, park: str) -> None:
        try:
            await digest_once(self.ctx, park)
        except Exception:
            log.exception("digest for park %s failed", park)

    async def _cleanup(self) -> None:
        try:
            await cleanup_once(self.ctx)
        except Exception:
            log.exception("cleanup failed")
