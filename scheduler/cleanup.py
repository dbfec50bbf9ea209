"""Housekeeping: forget expired one-time codes, delete abandoned registrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core.domain.registration import Step
from storage import tables as t


@dataclass(frozen=True)
class CleanupReport:
    otps_cleared: int
    conversations_deleted: int


async def cleanup(engine: AsyncEngine, now: datetime, abandoned_after: timedelta) -> CleanupReport:
    c = t.conversations
    # The version bump makes a registration update that read the row before this one
    # retry from a fresh read instead of writing the old hash back.
    clear_otps = (
        update(c)
        .where(c.c.otp_hash.is_not(None), c.c.otp_expires_at < now)
        .values(otp_hash=None, otp_expires_at=None, version=c.c.version + 1)
    )
    # Finished conversations (DONE, PARTNER) link a chat to its driver or partner: kept.
    abandoned = delete(c).where(
        c.c.step.not_in([Step.DONE.value, Step.PARTNER.value]),
        c.c.updated_at < now - abandoned_after,
    )
    async with engine.begin() as conn:
        otps = (await conn.execute(clear_otps)).rowcount
        gone = (await conn.execute(abandoned)).rowcount
    return CleanupReport(otps, gone)
