"""Running the hot-path statements (``storage.statements``) cheaply.

Through SQLAlchemy's async layer a statement costs ~0.3 ms of CPU before SQLite does any work
(greenlet switch, execution context, result object) and SQLite itself ~10 µs; a bot update runs
four or five. On SQLite, the unit of work therefore runs these few statements directly on the
connection's sqlite3 handle, in the event loop thread: each statement is compiled by SQLAlchemy
once, and its bind and result processors are SQLAlchemy's own, so values are stored exactly as
SQLAlchemy stores them. Everything else, and all of PostgreSQL, goes through SQLAlchemy.

Never block the event loop on a lock: a statement that needs SQLite's write lock is first tried
with no busy wait; if another connection holds the lock, it waits in the connection's own
thread instead, where waiting blocks nobody.
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.sqlite_driver import OneHopConnection
from storage.statements import Statements, statements

_BUSY_WAIT_MS = 10_000

# Called with the SQL of every statement run inline: how benchmarks count statements, the way
# SQLAlchemy's "before_cursor_execute" event counts the others.
statement_listeners: list[Callable[[str], None]] = []


class Queries(Protocol):
    """Runs a statement of ``storage.statements`` by name."""

    async def first(self, name: str, params: Mapping[str, Any]) -> Any: ...
    async def all(self, name: str, params: Mapping[str, Any]) -> list[Any]: ...
    async def rowcount(self, name: str, params: Mapping[str, Any]) -> int: ...


class SaQueries:
    """Through SQLAlchemy: PostgreSQL, or anything not on the fast path."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._stmts: Statements = statements(conn.dialect.name)

    async def first(self, name: str, params: Mapping[str, Any]) -> Any:
        return (await self._conn.execute(getattr(self._stmts, name), params)).first()

    async def all(self, name: str, params: Mapping[str, Any]) -> list[Any]:
        return list(await self._conn.execute(getattr(self._stmts, name), params))

    async def rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        return (await self._conn.execute(getattr(self._stmts, name), params)).rowcount


class Prepared:
    """One statement compiled for SQLite, with SQLAlchemy's type processing."""

    def __init__(self, statement: Any, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql: str = compiled.string
        names = list(compiled.positiontup or ())
        binds = [compiled.binds[name] for name in names]
        self._order = names
        # Literals (e.g. the 'driver' / 'partner' labels) carry their own value.
        self._fixed = {
            name: b.effective_value for name, b in zip(names, binds, strict=True) if not b.required
        }
        self._bind_procs = [b.type._cached_bind_processor(dialect) for b in binds]
        columns = compiled._result_columns
        self._result_procs = [c.type._cached_result_processor(dialect, None) for c in columns]
        self._row = namedtuple("Row", [c.keyname for c in columns], rename=True)  # type: ignore[misc]
        self.writes = not self.sql.lstrip().upper().startswith("SELECT")

    def parameters(self, params: Mapping[str, Any]) -> list[Any]:
        values = []
        for name, process in zip(self._order, self._bind_procs, strict=True):
            value = params[name] if name in params else self._fixed[name]
            values.append(process(value) if process is not None else value)
        return values

    def rows(self, cursor: sqlite3.Cursor) -> list[Any]:
        if not self._result_procs:
            return []
        procs = self._result_procs
        make = self._row._make
        return [
            make([p(v) if p is not None else v for p, v in zip(procs, raw, strict=True)])
            for raw in cursor.fetchall()
        ]


@cache
def _prepared(dialect_key: int, dialect: Dialect) -> dict[str, Prepared]:
    stmts = statements("sqlite")
    return {name: Prepared(getattr(stmts, name), dialect) for name in stmts.__dataclass_fields__}


class InlineSqlite:
    """Statements run on the sqlite3 handle in the loop thread; lock waits go to its thread."""

    def __init__(self, driver: OneHopConnection, dialect: Dialect) -> None:
        if driver.raw is None:
            raise RuntimeError("connection is closed")
        self._driver = driver
        self._raw = driver.raw
        self._prepared = _prepared(id(dialect), dialect)

    async def first(self, name: str, params: Mapping[str, Any]) -> Any:
        rows, _ = await self._run(self._prepared[name], params)
        return rows[0] if rows else None

    async def all(self, name: str, params: Mapping[str, Any]) -> list[Any]:
        rows, _ = await self._run(self._prepared[name], params)
        return rows

    async def rowcount(self, name: str, params: Mapping[str, Any]) -> int:
        _, count = await self._run(self._prepared[name], params)
        return count

    async def control(self, sql: str) -> None:
        """BEGIN IMMEDIATE / COMMIT / ROLLBACK, without blocking the loop on a lock."""
        for listener in statement_listeners:
            listener(sql)
        await self._locking(lambda: self._raw.execute(sql).close())

    async def _run(self, prepared: Prepared, params: Mapping[str, Any]) -> tuple[list[Any], int]:
        values = prepared.parameters(params)
        for listener in statement_listeners:
            listener(prepared.sql)

        def work() -> tuple[list[Any], int]:
            cursor = self._raw.execute(prepared.sql, values)
            try:
                return prepared.rows(cursor), cursor.rowcount
            finally:
                cursor.close()

        if prepared.writes and not self._raw.in_transaction:
            return await self._locking(work)  # a lone write takes the write lock itself
        return work()

    async def _locking(self, work: Callable[[], Any]) -> Any:
        raw = self._raw
        raw.execute("PRAGMA busy_timeout=0").close()
        try:
            return work()
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={_BUSY_WAIT_MS}").close()
        # Someone else writes: wait for the lock in the connection's thread, not in the loop.
        return await self._driver.run(work)
