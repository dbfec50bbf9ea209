"""Opening the database for any part of taxireg: migrated if behind, parks synced.

Kept apart from ``app.bootstrap`` (which wires every service, the bots' flow and its texts
included) so that an operator's read-only command opens the database and nothing else.
"""

from __future__ import annotations

from app.settings import Settings
from core.domain.model import Park
from core.ports import Clock
from storage import revision
from storage.database import SqlDatabase


async def open_database(
    settings: Settings, clock: Clock, *, migrate_db: bool = True, sync_parks: bool = True
) -> tuple[SqlDatabase, dict[str, Park]]:
    """The database and the configured parks. Alembic is loaded only when the schema is
    behind the newest migration (``storage.revision`` compares without it)."""
    if settings.database.url is None:
        settings.ensure_data_dir()
    db = SqlDatabase(settings.database_url, clock, echo=settings.database.echo)
    parks = {p.slug: p.to_park() for p in settings.parks}
    try:
        if migrate_db and await db.run_on_connection(revision.current) != revision.head():
            from storage import migrate

            await migrate.upgrade(db)
        if sync_parks and parks:
            await db.run(lambda uow: uow.parks.sync(list(parks.values())))
    except BaseException:
        await db.dispose()
        raise
    return db, parks
