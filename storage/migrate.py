"""Applying Alembic migrations from inside taxireg (``taxireg migrate`` and ``taxireg run``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from storage.database import SqlDatabase

_INI = Path(__file__).with_name("alembic.ini")
# Several `taxireg run` processes may start together on one PostgreSQL database: the first
# takes this advisory lock and migrates, the others wait and find nothing left to do.
_PG_LOCK = 7_310_451


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(_INI))
    config.set_main_option("script_location", str(_INI.with_name("migrations")))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(db: SqlDatabase, revision: str = "head") -> None:
    await db.run_on_connection(
        lambda c: _locked(c, lambda: command.upgrade(alembic_config(c), revision)), schema=True
    )


async def downgrade(db: SqlDatabase, revision: str) -> None:
    await db.run_on_connection(
        lambda c: _locked(c, lambda: command.downgrade(alembic_config(c), revision)),
        schema=True,
    )


async def current(db: SqlDatabase) -> str | None:
    return await db.run_on_connection(
        lambda c: MigrationContext.configure(c).get_current_revision(), readonly=True
    )


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _locked(connection: Connection, action: object) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    action()  # type: ignore[operator]
