"""SQLite's database thread commits queued units of work together (group commit).

Each unit of work must still behave as its own transaction: one that fails is rolled back
alone, the others keep their writes and see each other's, and nothing is handed back before
the commit that holds it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.database import SqlDatabase
from tests.fakes.clock import FakeClock

Job = Callable[[Connection], object]


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    db = SqlDatabase(f"sqlite:///{tmp_path / 'group.db'}", FakeClock())
    await db.run_on_connection(
        lambda conn: conn.exec_driver_sql("CREATE TABLE notes (n INTEGER PRIMARY KEY)")
    )
    yield db
    await db.dispose()


def _commits(conn: Connection, counter: list[str]) -> None:
    conn.connection.driver_connection.set_trace_callback(  # type: ignore[union-attr]
        lambda sql: counter.append(sql) if sql == "COMMIT" else None
    )


async def _queued_behind_a_blocker(db: SqlDatabase, jobs: Sequence[Job]) -> list[object]:
    """Run ``jobs`` as one queue: a first job holds the database thread until all are queued,
    so the thread finds them waiting together, as under load."""
    release = threading.Event()
    blocker = asyncio.ensure_future(db.run_on_connection(lambda _conn: release.wait(5)))
    await asyncio.sleep(0.05)  # the thread has taken the blocker
    futures = [asyncio.ensure_future(db.run_on_connection(job)) for job in jobs]
    await asyncio.sleep(0.05)  # every job is queued
    release.set()
    await blocker
    return await asyncio.gather(*futures, return_exceptions=True)


def _insert(n: int) -> Job:
    def job(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO notes (n) VALUES ({n})")
        return n

    return job


def _insert_then_fail(n: int) -> Job:
    def job(conn: Connection) -> int:
        conn.exec_driver_sql(f"INSERT INTO notes (n) VALUES ({n})")
        raise LookupError(f"job {n} changed its mind")

    return job


async def _notes(db: SqlDatabase) -> list[int]:
    rows = await db.run_on_connection(
        lambda conn: conn.execute(text("SELECT n FROM notes ORDER BY n")).all()
    )
    return [n for (n,) in rows]


async def test_queued_writes_share_one_commit(sqlite_db: SqlDatabase) -> None:
    commits: list[str] = []
    await sqlite_db.run_on_connection(lambda conn: _commits(conn, commits))
    commits.clear()

    results = await _queued_behind_a_blocker(sqlite_db, [_insert(n) for n in range(1, 11)])

    assert results == list(range(1, 11))
    assert await _notes(sqlite_db) == list(range(1, 11))
    # The blocker's own transaction, then the ten writes together (fewer than one each).
    assert 2 <= len(commits) < 11


async def test_a_failing_job_is_rolled_back_alone(sqlite_db: SqlDatabase) -> None:
    jobs = [_insert(1), _insert_then_fail(2), _insert(3)]

    results = await _queued_behind_a_blocker(sqlite_db, jobs)

    assert [results[0], results[2]] == [1, 3]
    assert isinstance(results[1], LookupError)
    assert await _notes(sqlite_db) == [1, 3]


async def test_a_job_sees_the_writes_of_jobs_before_it_in_the_group(
    sqlite_db: SqlDatabase,
) -> None:
    def count(conn: Connection) -> int:
        return int(conn.exec_driver_sql("SELECT count(*) FROM notes").scalar_one())

    results = await _queued_behind_a_blocker(sqlite_db, [_insert(1), _insert(2), count])

    assert results == [1, 2, 2]


async def test_a_constraint_violation_spoils_only_its_own_job(sqlite_db: SqlDatabase) -> None:
    # The second insert of 5 breaks the primary key: SQLite aborts that statement only, and
    # the job's savepoint takes back what the job did before it.
    def twice(conn: Connection) -> None:
        conn.exec_driver_sql("INSERT INTO notes (n) VALUES (4)")
        conn.exec_driver_sql("INSERT INTO notes (n) VALUES (5)")
        conn.exec_driver_sql("INSERT INTO notes (n) VALUES (5)")

    results = await _queued_behind_a_blocker(sqlite_db, [_insert(1), twice, _insert(6)])

    assert [results[0], results[2]] == [1, 6]
    assert "UNIQUE" in str(results[1])
    assert await _notes(sqlite_db) == [1, 6]


async def test_a_job_that_ends_the_whole_transaction_leaves_the_others_done(
    sqlite_db: SqlDatabase,
) -> None:
    # RAISE(ROLLBACK) in a trigger makes SQLite roll back the whole transaction, the other
    # jobs' savepoints with it: the group is run again one job at a time.
    await sqlite_db.run_on_connection(
        lambda conn: conn.exec_driver_sql(
            "CREATE TRIGGER no_13 BEFORE INSERT ON notes WHEN NEW.n = 13 "
            "BEGIN SELECT RAISE(ROLLBACK, 'thirteen'); END"
        )
    )

    results = await _queued_behind_a_blocker(sqlite_db, [_insert(1), _insert(13), _insert(3)])

    assert [results[0], results[2]] == [1, 3]
    assert "thirteen" in str(results[1])
    assert await _notes(sqlite_db) == [1, 3]


async def test_closing_a_database_never_used_leaves_no_file(tmp_path: Path) -> None:
    # The close runs on the database thread like a job, but must not open a connection
    # first: on SQLite that would create an empty database file where none was wanted.
    path = tmp_path / "unused.db"
    db = SqlDatabase(f"sqlite:///{path}", FakeClock())

    await db.dispose()

    assert not path.exists()
