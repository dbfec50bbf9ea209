"""Engines for SQLite (the default) and PostgreSQL (asyncpg)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from storage.sqlite_driver import creator

# Several processes and the scheduler write to one SQLite file: wait for the lock rather
# than fail at once.
_SQLITE_BUSY_S = 10.0


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo, autocommit=False)
    return create_async_engine(url, echo=echo, pool_pre_ping=True, pool_size=10)


def make_autocommit_engine(engine: AsyncEngine) -> AsyncEngine:
    """A sibling SQLite engine whose connections run in autocommit mode.

    Most updates write exactly one versioned UPDATE; run on its own it needs no COMMIT round
    trip. Units of work with several writes open a transaction explicitly (``storage.uow``).
    """
    return _sqlite_engine(
        engine.url.render_as_string(hide_password=False), echo=engine.echo, autocommit=True
    )


def _sqlite_engine(url: str, *, echo: bool, autocommit: bool) -> AsyncEngine:
    database = make_url(url).database or ":memory:"
    if database != ":memory:":
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    return create_async_engine(
        url,
        echo=echo,
        async_creator=creator(
            database, autocommit=autocommit, timeout=_SQLITE_BUSY_S, pragmas=_sqlite_pragmas
        ),
    )


def _sqlite_pragmas(connection: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL sync is durable across app crashes.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_S * 1000)}")
