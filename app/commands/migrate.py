"""``taxireg migrate``: bring the database schema to the newest revision."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "migrate",
        help="apply database migrations (Alembic) up to the newest revision",
        description="Apply pending migrations. Safe to run while other taxireg processes "
        "start: on PostgreSQL one migrates, the others wait.",
    )
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.clock import SystemClock
    from storage import migrate
    from storage.database import SqlDatabase

    settings = ctx.settings
    if settings.database.url is None:
        settings.ensure_data_dir()
    db = SqlDatabase(settings.database_url, SystemClock())
    try:
        before = await migrate.current(db)
        await migrate.upgrade(db)
        after = await migrate.current(db)
    finally:
        await db.dispose()
    print(f"database: {settings.redacted_dict()['database_url']}")
    if before == after:
        print(f"schema already at revision {after} (head)")
    else:
        print(f"schema migrated from {before or 'empty'} to revision {after} (head)")
    return 0
