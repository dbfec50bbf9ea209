"""Applying Alembic migrations from inside taxireg (``taxireg migrate`` and ``taxireg run``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

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


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_locked, lambda c: command.upgrade(alembic_config(c), revision))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(_locked, lambda c: command.downgrade(alembic_config(c), revision))


async def current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _locked(connection: Connection, action: object) -> None:
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK})
    action(connection)  # type: ignore[operator]
