"""Leadership for work only one process may do at a time, such as long-polling one bot.

Telegram answers a second poller of the same bot with 409 and VK would hand the same events
to two pollers; with several ``taxireg run`` processes on one PostgreSQL database, each bot
is polled by whichever process holds its advisory lock, and another takes over when that
process dies (PostgreSQL drops a dead session's locks). SQLite means one machine and one
process, so the lease is always granted there.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import text

from storage.database import SqlDatabase

if TYPE_CHECKING:  # the asyncio layer loads with the PostgreSQL engine, not for SQLite
    from sqlalchemy.ext.asyncio import AsyncConnection


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``pg_advisory_lock`` from a readable name."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Lease:
    """``core.ports.Lease`` on a PostgreSQL session-level advisory lock."""

    def __init__(self, db: SqlDatabase, name: str) -> None:
        self._db = db
        self.name = name
        self._key = lock_key(name)
        self._conn: AsyncConnection | None = None
        self._local = not db.is_postgres
        self._held = False

    async def acquire(self) -> bool:
        """Try once, without waiting; True if this process now holds the lease."""
        if self._local:
            self._held = True
            return True
        if self._conn is not None:
            return True
        conn = await self._db.async_engine.connect()
        try:
            # Session-level lock on a connection kept open for as long as we lead.
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            ).scalar_one()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def alive(self) -> bool:
        """Whether the lease is still ours (the connection may have died)."""
        if self._local:
            return self._held
        if self._conn is None:
            return False
        try:
            await self._conn.execute(text("SELECT 1"))
            await self._conn.commit()
        except Exception:
            await self.release()
            return False
        return True

    async def release(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            await conn.commit()
        except Exception:  # the connection is gone, and with it the lock
            pass
        finally:
            await conn.close()


def lease_factory(db: SqlDatabase) -> Callable[[str], Lease]:
    """``core.ports.LeaseFactory``: a lease by name on this database."""
    return lambda name: Lease(db, name)
