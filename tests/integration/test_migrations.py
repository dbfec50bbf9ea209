"""Migrations: every revision goes up and down cleanly, and they match storage/tables.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from app.clock import SystemClock
from storage import migrate
from storage.database import SqlDatabase
from storage.tables import metadata
from tests.conftest import reset_postgres


async def _engine(database_url: str):  # type: ignore[no-untyped-def]
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    return SqlDatabase(database_url, SystemClock())


async def test_stairway_up_and_down_every_revision(database_url: str) -> None:
    engine = await _engine(database_url)
    try:
        script = ScriptDirectory.from_config(migrate.alembic_config())
        revisions = [r.revision for r in reversed(list(script.walk_revisions()))]
        assert revisions[-1] == migrate.head()
        previous = "base"
        for revision in revisions:
            await migrate.upgrade(engine, revision)
            assert await migrate.current(engine) == revision
            await migrate.downgrade(engine, previous)
            await migrate.upgrade(engine, revision)
            previous = revision
    finally:
        await engine.dispose()


async def test_migrations_match_the_tables(database_url: str) -> None:
    engine = await _engine(database_url)
    try:
        await migrate.upgrade(engine)
        diff = await engine.run_on_connection(
            lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
        )
        assert diff == []
    finally:
        await engine.dispose()
