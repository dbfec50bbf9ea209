"""``taxireg backup FILE``: a consistent copy of the SQLite database while it is in use."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backup",
        help="copy the SQLite database to FILE while taxireg run keeps serving",
        description="Make a consistent online copy of the SQLite database with SQLite's "
        "backup API; `taxireg run` keeps serving meanwhile. To restore, stop taxireg, "
        "replace the database file with the copy (removing its -wal and -shm files) and "
        "start it again. For PostgreSQL use pg_dump / pg_restore.",
    )
    parser.add_argument("file", type=Path, help="the new file to write")
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.clock import SystemClock
    from storage.backup import BackupUnsupported, backup_sqlite
    from storage.database import SqlDatabase

    settings = ctx.settings
    db = SqlDatabase(settings.database_url, SystemClock())
    try:
        size = await backup_sqlite(db, args.file)
    except (BackupUnsupported, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(f"backup written to {args.file} ({size} bytes)")
    return 0
