"""``core.ports.HousekeepingRepository``: expired one-time codes, abandoned registrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.engine import Connection

from core.domain.registration import Step
from storage import tables as t

c = t.conversations
# Finished conversations (DONE, PARTNER) link a chat to its driver or partner: kept.
_FINISHED = [Step.DONE.value, Step.PARTNER.value]


class SqlHousekeeping:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def clear_expired_otps(self, now: datetime) -> int:
        # The version bump makes a registration update that read the row before this one
        # retry from a fresh read instead of writing the old hash back.
        stmt = (
            update(c)
            .where(c.c.otp_hash.is_not(None), c.c.otp_expires_at < now)
            .values(otp_hash=None, otp_expires_at=None, version=c.c.version + 1)
        )
        return self.conn.execute(stmt).rowcount

    def delete_abandoned(self, before: datetime) -> int:
        stmt = delete(c).where(c.c.step.not_in(_FINISHED), c.c.updated_at < before)
        return self.conn.execute(stmt).rowcount
