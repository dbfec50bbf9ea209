"""The unit of work: one connection and one transaction per update or admin command.

On PostgreSQL it is an ordinary transaction. On SQLite the connection is in autocommit mode
and the transaction starts lazily, at the first write that is not the conversation's own
versioned save: an update that only moves the conversation a step is then two statements
(read, versioned UPDATE) instead of three. Atomicity is unchanged: a lone UPDATE is atomic,
and every multi-write unit of work runs inside BEGIN IMMEDIATE ... COMMIT.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncTransaction

from storage.engine import make_autocommit_engine
from storage.hot import InlineSqlite, Queries, SaQueries
from storage.repositories import (
    SqlAudit,
    SqlCodes,
    SqlConversations,
    SqlDrivers,
    SqlOutbox,
    SqlParks,
    SqlPartners,
    Tx,
)


class SqlUnitOfWork:
    parks: SqlParks
    codes: SqlCodes
    partners: SqlPartners
    drivers: SqlDrivers
    conversations: SqlConversations
    outbox: SqlOutbox
    audit: SqlAudit

    def __init__(self, engine: AsyncEngine, *, lazy: bool = False) -> None:
        self._engine = engine
        self._lazy = lazy
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None
        self._state: _LazyTx | None = None

    @property
    def connection(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        return self._conn

    async def __aenter__(self) -> Self:
        conn = await self._engine.connect()
        self._conn = conn
        tx: Tx
        q: Queries
        try:
            if self._lazy:
                driver = (await conn.get_raw_connection()).driver_connection
                inline = InlineSqlite(driver, conn.dialect)  # type: ignore[arg-type]
                self._state = tx = _LazyTx(inline)
                q = inline
            else:
                self._tx = await conn.begin()
                tx, q = _EagerTx(), SaQueries(conn)
        except BaseException:
            await conn.close()
            self._conn = None
            raise
        self.parks = SqlParks(conn, tx, q)
        self.codes = SqlCodes(conn, tx, q)
        self.partners = SqlPartners(conn, tx, q)
        self.drivers = SqlDrivers(conn, tx, q)
        self.conversations = SqlConversations(conn, tx, q)
        self.outbox = SqlOutbox(conn, tx, q)
        self.audit = SqlAudit(conn, tx, q)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn = self._tx = self._state = None

    async def commit(self) -> None:
        if self._conn is None:
            raise RuntimeError("unit of work used outside 'async with'")
        if self._state is not None:
            await self._state.end("COMMIT")
        elif self._tx is not None:
            await self._tx.commit()

    async def rollback(self) -> None:
        if self._state is not None:
            await self._state.end("ROLLBACK")
        elif self._tx is not None and self._tx.is_active:
            await self._tx.rollback()


class _EagerTx:
    """PostgreSQL: the transaction is already open."""

    in_transaction = True

    async def write(self) -> None:
        return None


class _LazyTx:
    def __init__(self, inline: InlineSqlite) -> None:
        self._inline = inline
        self.in_transaction = False

    async def write(self) -> None:
        if not self.in_transaction:
            # IMMEDIATE takes the write lock now, so the transaction never fails later on
            # upgrading a read lock; a busy lock is waited for off the event loop.
            await self._inline.control("BEGIN IMMEDIATE")
            self.in_transaction = True

    async def end(self, statement: str) -> None:
        if self.in_transaction:
            self.in_transaction = False
            await self._inline.control(statement)


class UnitOfWorkFactory:
    """A zero-argument callable, the shape core's services take; owns the SQLite sibling engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._lazy = engine.dialect.name == "sqlite"
        self._engine = make_autocommit_engine(engine) if self._lazy else engine
        self._owns_engine = self._lazy

    @property
    def engine(self) -> AsyncEngine:
        """The engine units of work run on (the autocommit sibling on SQLite)."""
        return self._engine

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._engine, lazy=self._lazy)

    async def dispose(self) -> None:
        if self._owns_engine:
            await self._engine.dispose()


def uow_factory(engine: AsyncEngine) -> UnitOfWorkFactory:
    return UnitOfWorkFactory(engine)
