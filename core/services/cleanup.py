"""Housekeeping: forget expired one-time codes, delete abandoned registrations."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.domain.delivery import CleanupReport
from core.ports import Clock, Database, UnitOfWork

log = logging.getLogger("taxireg.notify")


class CleanupService:
    def __init__(self, db: Database, clock: Clock, abandoned_after: timedelta) -> None:
        self.db = db
        self.clock = clock
        self.abandoned_after = abandoned_after

    async def run(self, now: datetime | None = None) -> CleanupReport:
        at = now or self.clock.now()
        before = at - self.abandoned_after

        def work(uow: UnitOfWork) -> CleanupReport:
            return CleanupReport(
                otps_cleared=uow.housekeeping.clear_expired_otps(at),
                conversations_deleted=uow.housekeeping.delete_abandoned(before),
            )

        report = await self.db.run(work)
        if report.otps_cleared or report.conversations_deleted:
            log.info(
                "cleanup: %d expired one-time code(s) cleared, %d abandoned registration(s) "
                "deleted",
                report.otps_cleared,
                report.conversations_deleted,
            )
        return report
