"""``core.ports.Database`` on SQLAlchemy: one engine, one unit-of-work pattern per database.

A use case is a synchronous function of a unit of work; ``run`` executes it as one
transaction where the database lives:

- SQLite: SQLAlchemy's synchronous Core on one sqlite3 connection, in a thread of its own.
  An update is one hop to that thread and back, whatever it reads and writes, and a busy
  lock or a WAL checkpoint waits there, never in the event loop.
- PostgreSQL: SQLAlchemy's asyncio engine over asyncpg; ``AsyncConnection.run_sync`` lets the
  same synchronous repositories run on it.

The repositories (``storage.repositories``) are therefore written once, for a synchronous
``Connection``, and serve both.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import StaticPool

from core.ports import Clock, UnitOfWork
from storage.uow import SqlUnitOfWork

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

# Several processes may write to one SQLite file: wait for the lock rather than fail at once.
# The wait happens in the database thread, so it stalls no bot.
SQLITE_BUSY_S = 10.0


class SqlDatabase:
    def __init__(self, url: str, clock: Clock, *, echo: bool = False) -> None:
        self.url = url
        self.clock = clock
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        self._sqlite: _SqliteRunner | None = None
        self._async: AsyncEngine | None = None
        if self.dialect == "sqlite":
            self._sqlite = _SqliteRunner(parsed.database or ":memory:", echo=echo)
        else:
            # SQLAlchemy's asyncio layer (and the ORM under it) only for PostgreSQL: a
            # command on SQLite starts without it.
            from sqlalchemy.ext.asyncio import create_async_engine

            self._async = create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def async_engine(self) -> AsyncEngine:
        """The asyncio engine (PostgreSQL only): leases hold a connection of their own."""
        if self._async is None:
            raise RuntimeError("no asyncio engine on SQLite")
        return self._async

    @property
    def sync_engine(self) -> Engine:
        """The engine statements go through, for SQLAlchemy's events (benchmarks count them)."""
        if self._sqlite is not None:
            return self._sqlite.engine
        return self.async_engine.sync_engine

    async def run(self, work: Callable[[UnitOfWork], T]) -> T:
        return await self.run_on_connection(lambda conn: work(SqlUnitOfWork(conn, self.clock)))

    async def read(self, work: Callable[[UnitOfWork], T]) -> T:
        """Like ``run`` for work that only reads: on SQLite it takes no write lock, so a long
        export never holds up the bots."""
        return await self.run_on_connection(
            lambda conn: work(SqlUnitOfWork(conn, self.clock)), readonly=True
        )

    async def run_on_connection(
        self, work: Callable[[Connection], T], *, readonly: bool = False, schema: bool = False
    ) -> T:
        """``work`` on a plain connection inside one transaction (migrations, leases, stats).

        ``schema``: SQLite checks no foreign keys meanwhile, as Alembic's batch mode needs to
        rebuild a table that others refer to (SQLite's documented procedure for ALTER)."""
        if self._sqlite is not None:
            return await self._sqlite.submit(work, readonly=readonly, schema=schema)
        async with self.async_engine.begin() as conn:
            return await conn.run_sync(work)

    async def ping(self) -> None:
        await self.run_on_connection(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    async def dispose(self) -> None:
        if self._sqlite is not None:
            await self._sqlite.close()
        if self._async is not None:
            await self._async.dispose()


class _SqliteRunner:
    """One sqlite3 connection owned by one thread; every unit of work is a job on it.

    The thread takes every job queued by the time it wakes and hands all their results back
    to the event loop at once: under load that is one wake-up of each side per batch instead
    of per update (a thread hop cost as much CPU as the update's SQL). Queued writes share
    one commit (``_run_group``), each in a savepoint of its own, so a job still succeeds or
    fails alone and sees what the jobs before it wrote, as in separate transactions.
    """

    def __init__(self, database: str, *, echo: bool) -> None:
        if database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine = _sqlite_engine(database, echo=echo)
        self._conn: Connection | None = None
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._closed = False
        # A daemon: a process that exits without closing the database is not kept alive by
        # it (an unfinished transaction is rolled back by SQLite, as after a crash).
        self._thread = threading.Thread(target=self._serve, name="sqlite", daemon=True)
        self._thread.start()

    async def submit(
        self, work: Callable[[Connection], T], *, readonly: bool, schema: bool = False
    ) -> T:
        if self._closed:
            raise RuntimeError("the database is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._jobs.put(_Job(work, loop, future, _kind(readonly, schema)))
        return await future

    def _serve(self) -> None:
        while True:
            batch = [self._jobs.get()]
            while len(batch) < _MAX_BATCH:
                try:
                    batch.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            for group in _groups(batch):
                if group is None:
                    return
                self._run_group(group)

    def _run_group(self, jobs: list[_Job]) -> None:
        """Run ``jobs`` and settle their futures: several in one transaction when they can be.

        Group commit: queued writes share one BEGIN IMMEDIATE ... COMMIT, each job inside a
        savepoint of its own, so a failing job is rolled back alone and the others keep their
        work. A COMMIT writes every page the transaction dirtied to the WAL, and the jobs of a
        batch dirty the same table and index pages (the newest rows of conversations, the
        outbox, the drivers): one commit for the batch writes them once. A job's result is
        handed back only after the commit that made it durable. Anything that fails the
        group as a whole (the lock, the commit, SQLite ending the transaction itself) rolls
        it back and runs each job in a transaction of its own instead, as if never grouped.
        """
        held: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        start = 0
        while start < len(jobs):
            try:
                done = self._together(jobs[start:])
            except _GroupFailed:
                done = [self._alone(jobs[start])]
            for job, outcome in zip(jobs[start:], done, strict=False):
                held.setdefault(job.loop, []).append(outcome)
            start += len(done)
            if start < len(jobs):  # a slow group: hand back what is done, don't hold it
                _hand_back(held)
                held = {}
        _hand_back(held)

    def _alone(self, job: _Job) -> _Outcome:
        try:
            if job.work is None:  # closing: not through _connection(), which opens one first
                return (job.future, self._close(), None)
            schema = job.kind is _Kind.SCHEMA
            return (job.future, self._transaction(job.work, job.kind is _Kind.READ, schema), None)
        except BaseException as exc:  # raised in the awaiting task, as an executor does
            return (job.future, None, exc)

    def _together(self, jobs: list[_Job]) -> list[_Outcome]:
        """Run jobs of one kind in one transaction until they took ``_MAX_HOLD_S``; their
        outcomes, in order. A single job (and a schema job) is ``_alone``."""
        since = time.perf_counter()
        if len(jobs) == 1 or jobs[0].kind not in (_Kind.READ, _Kind.WRITE):
            return [self._alone(jobs[0])]
        conn = self._connection()
        raw: Any = conn.connection.driver_connection
        outcomes: list[_Outcome] = []
        try:
            raw.execute("BEGIN" if jobs[0].kind is _Kind.READ else "BEGIN IMMEDIATE")
        except Exception as exc:
            raise _GroupFailed from exc
        try:
            for job in jobs:
                raw.execute("SAVEPOINT job")
                try:
                    result = job.work(conn)
                except Exception as exc:
                    if not raw.in_transaction:  # SQLite rolled the whole transaction back
                        raise _GroupFailed from exc
                    raw.execute("ROLLBACK TO job")
                    raw.execute("RELEASE job")
                    outcomes.append((job.future, None, exc))
                else:
                    raw.execute("RELEASE job")
                    outcomes.append((job.future, result, None))
                if time.perf_counter() - since > _MAX_HOLD_S:
                    break
            _commit(conn, raw)
        except BaseException as exc:
            _rollback(conn, raw)
            raise _GroupFailed from exc
        return outcomes

    def _transaction(self, work: Callable[[Connection], T], readonly: bool, schema: bool) -> T:
        conn = self._connection()
        # IMMEDIATE takes the write lock at BEGIN, so a transaction never fails later on
        # upgrading a read lock when another process writes; reads need no lock at all.
        begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"
        raw = conn.connection.driver_connection
        if schema:
            return self._schema_transaction(conn, raw, work, begin)
        # BEGIN and COMMIT go to sqlite3 directly: through SQLAlchemy's transaction they cost
        # more than a registration's statements. A statement that SQLAlchemy runs meanwhile
        # makes it begin its own transaction on top (its begin hook sees ours and emits
        # nothing); then it is SQLAlchemy's commit or rollback that ends ours.
        raw.execute(begin)  # type: ignore[union-attr]
        try:
            result = work(conn)
        except BaseException:
            _rollback(conn, raw)
            raise
        _commit(conn, raw)
        return result

    @staticmethod
    def _schema_transaction(
        conn: Connection, raw: Any, work: Callable[[Connection], T], begin: str
    ) -> T:
        conn.info["begin"] = begin
        raw.execute("PRAGMA foreign_keys=OFF")  # only outside a transaction does SQLite take it
        try:
            with conn.begin():
                result = work(conn)
                problems = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if problems:
                    raise RuntimeError(f"foreign keys broken by a migration: {problems[:3]}")
                return result
        finally:
            raw.execute("PRAGMA foreign_keys=ON")

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.engine.connect()
        return self._conn

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._jobs.put(_Job(None, loop, future, _Kind.CLOSE))
        self._jobs.put(None)  # the thread ends after this batch
        await future
        await asyncio.to_thread(self._thread.join)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.engine.dispose()


# A batch is at most this many jobs, and a group commits and hands back its results at the
# latest once its jobs took this long: a batch must not add latency a person notices to its
# first job. Under bench.telegram_registrations' load about 6 updates share a commit then; a
# commit costs about 200 us on this VM (it writes each dirty page to the WAL), a job 0.3 ms.
_MAX_BATCH = 32
_MAX_HOLD_S = 0.010

# An awaiting future, and the job's result or its exception.
_Outcome = tuple["asyncio.Future[Any]", Any, BaseException | None]


class _Kind(Enum):
    READ = "read"  # BEGIN: takes no write lock
    WRITE = "write"  # BEGIN IMMEDIATE
    SCHEMA = "schema"  # alone, foreign keys unchecked until it ends
    CLOSE = "close"  # alone, outside any transaction


def _kind(readonly: bool, schema: bool) -> _Kind:
    if schema:
        return _Kind.SCHEMA
    return _Kind.READ if readonly else _Kind.WRITE


@dataclass(frozen=True)
class _Job:
    work: Callable[[Connection], Any] | None  # None: close the runner (``_Kind.CLOSE``)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    kind: _Kind


class _GroupFailed(Exception):
    """A grouped transaction could not be had or kept: its jobs run one by one instead."""


def _groups(batch: list[_Job | None]) -> Iterator[list[_Job] | None]:
    """Runs of consecutive jobs of one kind, in queue order; None (close) ends the batch."""
    group: list[_Job] = []
    for job in batch:
        if job is None or (group and job.kind is not group[0].kind):
            if group:
                yield group
            group = []
            if job is None:
                yield None
                return
        group.append(job)
    if group:
        yield group


def _commit(conn: Connection, raw: Any) -> None:
    """End the transaction begun on the driver. A statement SQLAlchemy ran meanwhile made it
    begin its own on top (its begin hook emitted nothing): then its commit ends ours."""
    if conn.in_transaction():
        conn.commit()
    else:
        raw.commit()


def _rollback(conn: Connection, raw: Any) -> None:
    """Like ``_commit``, undoing; harmless when SQLite already ended the transaction."""
    if conn.in_transaction():
        conn.rollback()
    else:
        raw.rollback()


def _hand_back(held: dict[asyncio.AbstractEventLoop, list[_Outcome]]) -> None:
    """Settle the futures of finished jobs: one call into each waiting event loop."""
    for loop, outcomes in held.items():
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, outcomes)


def _settle(outcomes: list[_Outcome]) -> None:
    for future, result, error in outcomes:
        if future.done():  # the awaiting task was cancelled meanwhile
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _sqlite_engine(database: str, *, echo: bool) -> Engine:
    engine = create_engine(
        f"sqlite+pysqlite:///{database}",
        echo=echo,
        poolclass=StaticPool,
        connect_args={"timeout": SQLITE_BUSY_S, "check_same_thread": False},
    )
    # The pysqlite driver's own transaction handling is switched off so that SQLAlchemy
    # emits BEGIN itself: the documented recipe for choosing the kind of BEGIN.
    event.listen(engine, "connect", _on_connect)
    event.listen(engine, "begin", _on_begin)
    return engine


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers run beside the writer; NORMAL sync is durable across app crashes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_S * 1000)}")
    cursor.close()


def _on_begin(conn: Connection) -> None:
    if conn.connection.driver_connection.in_transaction:  # type: ignore[union-attr]
        return  # the unit of work began it on the driver connection (_SqliteRunner)
    conn.exec_driver_sql(conn.info.get("begin", "BEGIN IMMEDIATE"))
