"""``taxireg run``'s notification part: APScheduler wiring around core's use cases.

* ``deliver`` every ``deliver_interval_seconds``: one relay pass (``DeliveryService.run``);
* ``digest:<park>`` daily at ``digest_time`` in each park's time zone (``DigestService``);
* ``cleanup`` hourly: expired one-time codes, abandoned registrations (``CleanupService``);
* ``reminders`` every ``reminders_every``: the one reminder of unfinished registrations that
  are due, in parks where it is daytime (``ReminderService``; queued to the outbox, which
  ``deliver`` sends). Safe in several processes: the job marks what it takes.
* ``bonus-alerts`` every ``bonus_alerts_every``: batched accrual alerts, at most one per
  beneficiary per the park's ``alert_interval_minutes`` (``LedgerService.queue_alerts``;
  queued to the outbox in the transaction that clears the pending sums).

The decisions live in core; this module only says *when*. Stopping is graceful: the relay
stops claiming, the send on the wire finishes and is recorded, and every row this process
still holds is released for others at once (instead of after its claim runs out).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.domain.model import Park
from core.ports import Clock
from core.services.cleanup import CleanupService
from core.services.delivery import DeliveryService
from core.services.digest import DigestService
from core.services.reminders import ReminderService

log = logging.getLogger("taxireg.notify")


@dataclass(frozen=True)
class SchedulerOptions:
    deliver_interval_seconds: float = 3.0
    digest_time: time = time(20, 0)
    """Park-local time of the partners' daily digest."""
    cleanup_every: timedelta = timedelta(hours=1)
    digest_grace: timedelta = timedelta(hours=1)
    """A digest missed by up to this much (a restart around digest time) still runs."""
    reminders_every: timedelta = timedelta(minutes=5)
    bonus_alerts_every: timedelta = timedelta(minutes=1)


class NotificationScheduler:
    name = "notification scheduler"

    def __init__(
        self,
        *,
        options: SchedulerOptions,
        delivery: DeliveryService,
        digests: DigestService,
        cleanup: CleanupService,
        parks: Mapping[str, Park],
        clock: Clock,
        reminders: ReminderService | None = None,
        bonus_alerts: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.options = options
        self.delivery = delivery
        self.digests = digests
        self.cleanup = cleanup
        self.reminders = reminders
        self.bonus_alerts = bonus_alerts
        self.parks = dict(parks)
        self.clock = clock
        self._scheduler: AsyncIOScheduler | None = None

    @property
    def scheduler(self) -> AsyncIOScheduler | None:
        """The running APScheduler (None when stopped), for inspection."""
        return self._scheduler

    async def start(self) -> None:
        options = self.options
        scheduler = AsyncIOScheduler()
        now = datetime.now().astimezone()
        scheduler.add_job(
            self._deliver,
            IntervalTrigger(seconds=options.deliver_interval_seconds),
            id="deliver",
            next_run_time=now,  # drain what queued up while we were down
            # A pass drains a backlog for as long as it takes; a run that starts meanwhile
            # returns at once (DeliveryService.run), where max_instances=1 would log a
            # warning each time.
            max_instances=2,
            coalesce=True,
        )

        def every(job: Callable[[], Awaitable[Any]], period: timedelta, job_id: str) -> None:
            """A periodic job that runs once at start, then one at a time."""
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=period.total_seconds()),
                id=job_id,
                next_run_time=now,
                max_instances=1,
                coalesce=True,
            )

        every(self._cleanup, options.cleanup_every, "cleanup")
        if self.reminders is not None:
            every(self.remind, options.reminders_every, "reminders")
        if self.bonus_alerts is not None:
            every(self.alert_bonuses, options.bonus_alerts_every, "bonus-alerts")
        at = options.digest_time
        # Digests for the parks whose bots can send; the outbox key keeps a digest single
        # when several processes run the job.
        for slug in sorted(set(self.delivery.messenger.parks) & set(self.parks)):
            park = self.parks[slug]
            scheduler.add_job(
                self._digest,
                CronTrigger(hour=at.hour, minute=at.minute, timezone=ZoneInfo(park.timezone)),
                args=(slug,),
                id=f"digest:{slug}",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(options.digest_grace.total_seconds()),
            )
            if self.digest_just_missed(park.timezone):
                scheduler.add_job(self._digest, args=(slug,), id=f"digest-catch-up:{slug}")
        scheduler.start()
        self._scheduler = scheduler
        log.info("notification scheduler started (worker %s)", self.delivery.worker)

    def digest_just_missed(self, timezone: str) -> bool:
        """Whether today's digest time passed less than the grace ago (a cron trigger only
        looks forward: a restart at 20:00:05 would skip today's digest)."""
        local = self.clock.now().astimezone(ZoneInfo(timezone))
        due = datetime.combine(local.date(), self.options.digest_time, tzinfo=local.tzinfo)
        return timedelta(0) <= local - due < self.options.digest_grace

    async def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.pause()  # no new pass starts while the running one winds down
        released = await self.delivery.stop()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
            await asyncio.sleep(0)  # AsyncIOScheduler shuts down on the next loop turn
        log.info("notification scheduler stopped, %d claimed row(s) released", released)

    # Job bodies log and swallow errors: APScheduler would log them too, but without saying
    # which part of taxireg failed, and a failed run must not stop the next one.

    async def _deliver(self) -> None:
        try:
            await self.delivery.run()
        except Exception:
            log.exception("delivery pass failed")

    async def _digest(self, park: str) -> None:
        try:
            await self.digests.queue(park)
        except Exception:
            log.exception("digest for park %s failed", park)

    async def remind(self) -> int:
        """The reminders job: queue the due reminders (0 if none or on failure)."""
        if self.reminders is None:
            return 0
        try:
            return await self.reminders.run()
        except Exception:
            log.exception("registration reminders failed")
            return 0

    async def alert_bonuses(self) -> int:
        """The bonus-alerts job: queue the due batched accrual alerts (0 on failure)."""
        if self.bonus_alerts is None:
            return 0
        try:
            return await self.bonus_alerts()
        except Exception:
            log.exception("bonus alerts failed")
            return 0

    async def _cleanup(self) -> None:
        try:
            await self.cleanup.run()
        except Exception:
            log.exception("cleanup failed")
