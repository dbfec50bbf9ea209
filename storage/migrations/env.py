"""Alembic environment: runs on the connection taxireg hands over (see storage.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from storage.tables import metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `taxireg migrate`, which supplies the connection")
run_on(connection)
