"""The schema revision without Alembic: what the database is at, and the newest one.

Loading Alembic's machinery costs more than a read-only command's whole work, so commands
that only read compare these two and import ``storage.migrate`` only when the database is
behind. The newest revision comes from the migration files' names
(``YYYYMMDD_NNNN_slug.py``, revision ``NNNN``); a test checks it against Alembic's own
head, so a file named against the rule fails CI rather than a migration being skipped.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

VERSIONS = Path(__file__).with_name("migrations") / "versions"
_NAME = re.compile(r"^\d{8}_(\d{4})_\w+\.py$")


@cache
def head() -> str | None:
    """The newest revision id, read from the file names; None without migrations."""
    numbers = [m.group(1) for p in VERSIONS.iterdir() if (m := _NAME.match(p.name))]
    return max(numbers) if numbers else None


def current(conn: Connection) -> str | None:
    """The revision the database is at; None for an empty database (no Alembic table)."""
    if not conn.dialect.has_table(conn, "alembic_version"):
        return None
    try:
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:
        return None
    return rows[0] if len(rows) == 1 else None  # several heads: let Alembic decide
