"""An aiosqlite-shaped connection that costs one thread hop per statement.

SQLAlchemy's aiosqlite adapter awaits four aiosqlite calls per statement (open a cursor,
execute, fetch, close), and each is a hop to aiosqlite's thread and back: about 0.3-0.5 ms of
a bot update's budget per statement. This connection runs execute-and-fetch as one job on the
connection's own thread, answers ``fetchall``/``close`` from memory, and skips the hop for a
COMMIT or ROLLBACK when SQLite has no transaction open (the pool's reset-on-return included).

It is handed to SQLAlchemy's aiosqlite dialect through ``create_async_engine(async_creator=)``,
so everything above the driver (dialect, pool, SQL compilation) is SQLAlchemy's own.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class OneHopCursor:
    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Any] = []

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> OneHopCursor:
        raw = self._connection.raw

        def work() -> tuple[Any, list[Any], int, int | None]:
            cursor = raw.execute(sql, parameters or ())
            try:
                rows = cursor.fetchall() if cursor.description else []
                return cursor.description, rows, cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        self.description, self._rows, self.rowcount, self.lastrowid = await self._connection.run(
            work
        )
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]]) -> None:
        raw = self._connection.raw

        def work() -> int:
            cursor = raw.executemany(sql, seq_of_parameters)
            try:
                return cursor.rowcount
            finally:
                cursor.close()

        self.description, self._rows = None, []
        self.rowcount = await self._connection.run(work)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._rows = []

    async def nextset(self) -> None:
        return None


class OneHopConnection:
    """The subset of ``aiosqlite.Connection`` that SQLAlchemy's adapter uses."""

    def __init__(self, raw: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self.raw: sqlite3.Connection | None = raw
        self._executor = executor

    @property
    def _connection(self) -> sqlite3.Connection | None:  # checked by SQLAlchemy's adapter
        return self.raw

    @property
    def isolation_level(self) -> str | None:
        return self.raw.isolation_level if self.raw else None

    async def run(self, fn: Callable[[], T]) -> T:
        if self.raw is None:
            raise ValueError("no active connection")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def cursor(self) -> OneHopCursor:
        return OneHopCursor(self)

    async def commit(self) -> None:
        if self.raw is not None and self.raw.in_transaction:
            await self.run(self.raw.commit)

    async def rollback(self) -> None:
        if self.raw is not None and self.raw.in_transaction:
            await self.run(self.raw.rollback)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        raw = self.raw
        if raw is not None:
            await self.run(lambda: raw.create_function(*args, **kwargs))

    async def close(self) -> None:
        raw, self.raw = self.raw, None
        if raw is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, raw.close)
        finally:
            self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Forced termination (the pool's last resort): drop the thread without waiting."""
        self.raw = None
        self._executor.shutdown(wait=False, cancel_futures=True)


def creator(
    path: str, *, autocommit: bool, timeout: float, pragmas: Callable[[sqlite3.Connection], None]
) -> Callable[[], Any]:
    """An ``async_creator`` for ``create_async_engine``: a connection on its own thread."""

    async def connect() -> OneHopConnection:
        # sqlite3 objects stay on the thread that made them: one thread per connection.
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="taxireg-sqlite")

        def open_() -> sqlite3.Connection:
            raw = sqlite3.connect(
                path,
                timeout=timeout,
                isolation_level=None if autocommit else "",
                check_same_thread=False,
                detect_types=sqlite3.PARSE_DECLTYPES | sqlite3.PARSE_COLNAMES,
            )
            pragmas(raw)
            return raw

        try:
            raw = await asyncio.get_running_loop().run_in_executor(executor, open_)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return OneHopConnection(raw, executor)

    return connect
