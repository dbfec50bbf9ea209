"""The unit of work: one connection and one transaction per update or admin command."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from storage.repositories import (
    SqlAudit,
    SqlCodes,
    SqlConversations,
    SqlDrivers,
    SqlOutbox,
    SqlParks,
    SqlPartners,
)


class SqlUnitOfWork:
    parks: SqlParks
    codes: SqlCodes
    partners: SqlPartners
    drivers: SqlDrivers
    conversations: SqlConversations
    outbox: SqlOutbox
    audit: SqlAudit

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._engine.connect()
        self._conn = conn
        self._tx = await conn.begin()
        self.parks = SqlParks(conn)
        self.codes = SqlCodes(conn)
        self.partners = SqlPartners(conn)
        self.drivers = SqlDrivers(conn)
        self.conversations = SqlConversations(conn)
        self.outbox = SqlOutbox(conn)
        self.audit = SqlAudit(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn = self._tx = None

    async def commit(self) -> None:
        if self._tx is None:
            raise RuntimeError("unit of work used outside 'async with'")
        await self._tx.commit()

    async def rollback(self) -> None:
        if self._tx is not None and self._tx.is_active:
            await self._tx.rollback()


def uow_factory(engine: AsyncEngine) -> Callable[[], SqlUnitOfWork]:
    """A zero-argument factory, the shape core's services take."""
    return lambda: SqlUnitOfWork(engine)
