"""An online copy of a SQLite database, taken while other processes keep writing to it.

SQLite's backup API copies the database page by page from one consistent snapshot; with WAL,
the writers of ``taxireg run`` carry on meanwhile. PostgreSQL has its own tools (pg_dump).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import Connection

from storage.database import SqlDatabase


class BackupUnsupported(Exception):
    """The database is not SQLite."""


async def backup_sqlite(db: SqlDatabase, target: Path) -> int:
    """Copy the database to ``target`` (a new file); returns its size in bytes."""
    if db.dialect != "sqlite":
        raise BackupUnsupported(
            "taxireg backup copies SQLite databases; back up PostgreSQL with pg_dump"
        )
    # Every file operation runs with the copy, in the database's thread, off the event loop.
    return await db.run_on_connection(lambda conn: _copy(conn, target), readonly=True)


def _copy(conn: Connection, target: Path) -> int:
    if target.exists():
        raise FileExistsError(f"{target} exists; choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        dest = sqlite3.connect(partial)
        try:
            conn.connection.driver_connection.backup(dest)  # type: ignore[union-attr]
        finally:
            dest.close()
        partial.replace(target)  # a half-written copy never carries the final name
    finally:
        partial.unlink(missing_ok=True)
    return target.stat().st_size
