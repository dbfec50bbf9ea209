"""The statements every bot update runs, built once per dialect, and how they are executed.

Building a statement and its cache key costs more than running it on SQLite (dozens of
bind parameters for a conversation row), so the hot ones are constructed once and executed
with plain parameter dicts. Column lists come from the table definitions (``storage.rows``).

On SQLite even a cached statement costs far more in SQLAlchemy's execution machinery than
in sqlite3 (execution context, parameter processing, result metadata: about three quarters
of the database thread's time per update under the Telegram benchmark). ``Executor`` runs
the hot statements there on the DBAPI connection instead, inside the same transaction:
each is compiled once with SQLAlchemy's public ``compile()`` into SQL with named
parameters, and its parameters and result columns are converted with the types' public
``bind_processor``/``result_processor``, so values go in and come out exactly as through
SQLAlchemy. PostgreSQL (asyncpg under ``run_sync``) keeps SQLAlchemy's path.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import Executable, and_, bindparam, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.types import TypeEngine

from core.domain.model import OwnerKind
from storage import tables as t
from storage.rows import CONVERSATION_FIELDS, DRIVER_COLUMNS, OUTBOX_INSERT_COLUMNS

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class Statements:
    conversation_get: Any
    conversation_insert: Any
    conversation_update: Any
    code_lookup: Any
    code_reserve: Any
    phone_owners: Any
    driver_insert: Any
    driver_get: Any
    partner_get: Any
    outbox_insert: Any


def _binds(names: Sequence[str]) -> dict[str, Any]:
    return {name: bindparam(name) for name in names}


@cache
def statements(dialect: str) -> Statements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    c, d, p, k, o = t.conversations, t.drivers, t.partners, t.codes, t.outbox
    conversation_columns = ("park_slug", "channel", "user_id", *CONVERSATION_FIELDS)
    # UPDATE reserves column names for SET values: the WHERE binds and SET binds differ.
    update_values = {name: bindparam(f"new_{name}") for name in CONVERSATION_FIELDS}
    return Statements(
        conversation_get=select(c).where(
            and_(
                c.c.park_slug == bindparam("park"),
                c.c.channel == bindparam("channel"),
                c.c.user_id == bindparam("user_id"),
            )
        ),
        conversation_insert=insert(c)
        .values(_binds(conversation_columns))
        .on_conflict_do_nothing(index_elements=["park_slug", "channel", "user_id"])
        .returning(c.c.id),
        conversation_update=update(c)
        .where(and_(c.c.id == bindparam("b_id"), c.c.version == bindparam("b_version")))
        .values(update_values),
        code_lookup=select(
            k.c.code,
            k.c.park_slug,
            k.c.active,
            d.c.id.label("driver_id"),
            d.c.phone.label("driver_phone"),
            p.c.id.label("partner_id"),
            p.c.phone.label("partner_phone"),
        )
        .select_from(k)
        .outerjoin(d, d.c.own_code == k.c.code)
        .outerjoin(p, p.c.code == k.c.code)
        .where(k.c.code == bindparam("code")),
        code_reserve=insert(k)
        .values(_binds(("code", "park_slug", "kind", "active", "created_at")))
        .on_conflict_do_nothing(index_elements=["code"])
        .returning(k.c.code),
        phone_owners=union_all(
            select(
                literal(OwnerKind.DRIVER.value).label("kind"), d.c.id, d.c.park_slug, d.c.own_code
            ).where(and_(d.c.park_slug == bindparam("park"), d.c.phone == bindparam("phone"))),
            select(
                literal(OwnerKind.PARTNER.value).label("kind"), p.c.id, p.c.park_slug, p.c.code
            ).where(p.c.phone == bindparam("phone")),
        ),
        driver_insert=insert(d)
        .values(_binds(DRIVER_COLUMNS))
        .on_conflict_do_nothing(index_elements=["park_slug", "phone"])
        .returning(d.c.id),
        driver_get=select(d).where(d.c.id == bindparam("id")),
        partner_get=select(p).where(p.c.id == bindparam("id")),
        # One row per execution: a multi-row VALUES list would be a new statement (compiled
        # again, every time) for each batch size.
        outbox_insert=insert(o)
        .values(_binds(OUTBOX_INSERT_COLUMNS))
        .on_conflict_do_nothing(index_elements=[o.c.idempotency_key]),
    )


# -- SQLite's direct path --------------------------------------------------------------------

# SQL text for sqlite3 with named parameters (":name"), which a dict of values fills, so
# no parameter order has to be known. Only the text comes from this dialect; every value
# conversion comes from the connection's own dialect.
_NAMED_SQLITE = sqlite.dialect(paramstyle="named")


@dataclass(frozen=True)
class Prepared:
    """One statement compiled for sqlite3."""

    sql: str
    constants: Mapping[str, Any]
    """Values the statement carries itself (literals), under their parameter names."""
    binds: tuple[tuple[str, Processor, bool], ...]
    """Parameters whose values need converting (dates, booleans, JSON), how, and whether a
    None can skip the conversion (it would come out as None anyway)."""
    row: Callable[..., Any] | None
    """A named tuple of the result columns (attribute access as on SQLAlchemy's rows), or
    None for a statement that returns no rows."""
    results: tuple[tuple[int, Processor, bool], ...]
    """The result columns that need converting: position, conversion, and whether a None
    may skip it."""

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        values = {**self.constants, **params}
        for name, process, skips_none in self.binds:
            value = values[name]
            # Most of a conversation's dates are unset: no conversion chain for them.
            if value is not None or not skips_none:
                values[name] = process(value)
        return values

    def make_row(self, raw: Sequence[Any]) -> Any:
        assert self.row is not None
        if not self.results:
            return self.row(*raw)
        values = list(raw)
        for index, process, skips_none in self.results:
            value = values[index]
            if value is not None or not skips_none:
                values[index] = process(value)
        return self.row(*values)


def prepare(statement: Executable, dialect: Dialect) -> Prepared:
    """``statement`` compiled for sqlite3, with ``dialect``'s (the engine's) conversions."""
    compiled = statement.compile(dialect=_NAMED_SQLITE)
    # ``params`` names every parameter of the SQL; those with a value are the statement's
    # own literals, the others are filled in at execution.
    names = compiled.params
    constants = {name: value for name, value in names.items() if value is not None}
    binds = tuple(
        (name, process, _keeps_none(process))
        for name in names
        if (process := _bind_processor(compiled.binds[name].type, dialect)) is not None
    )
    columns = list(getattr(statement, "exported_columns", ()))
    row = namedtuple("Row", [column.key for column in columns]) if columns else None  # type: ignore[misc]
    results = tuple(
        (index, process, _keeps_none(process))
        for index, column in enumerate(columns)
        if (process := _result_processor(column.type, dialect)) is not None
    )
    return Prepared(
        sql=compiled.string, constants=constants, binds=binds, row=row, results=results
    )


def _keeps_none(process: Processor) -> bool:
    """Whether ``process`` turns None into None (then a None need not go through it): asked
    of the processor itself, since some types store None as something else (JSON's null)."""
    try:
        return process(None) is None
    except Exception:  # a processor that refuses None is always called, as SQLAlchemy does
        return False


# The dialect's own implementation of a type (sqlite.DATETIME for DateTime, inside a
# TypeDecorator too) is the one that converts: ``dialect_impl`` is SQLAlchemy's public way
# to it. sqlite3 receives no datetime objects and returns none, exactly as via SQLAlchemy.
def _bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    return type_.dialect_impl(dialect).bind_processor(dialect)


def _result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Processor | None:
    # sqlite3 reports no column types (cursor.description's type codes are None).
    return type_.dialect_impl(dialect).result_processor(dialect, None)


class Executor:
    """Runs the hot statements (those of ``statements()``, nothing built per call) for one
    unit of work: on SQLite through sqlite3, each compiled once per engine; elsewhere
    through SQLAlchemy."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.q = statements(conn.dialect.name)
        self._cursor: Any = None
        self._prepared: dict[Executable, Prepared] | None = None
        if conn.dialect.name == "sqlite":
            # The DBAPI connection SQLAlchemy began the transaction on (BEGIN IMMEDIATE, see
            # storage.database): statements on it are part of that transaction.
            self._cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            self._prepared = _prepared_for(conn.dialect)

    def _compiled(self, statement: Executable) -> Prepared:
        assert self._prepared is not None
        found = self._prepared.get(statement)
        if found is None:
            found = self._prepared[statement] = prepare(statement, self.conn.dialect)
        return found

    def all(self, statement: Executable, params: Mapping[str, Any]) -> list[Any]:
        if self._cursor is None:
            return list(self.conn.execute(statement, params))
        prepared = self._compiled(statement)
        self._cursor.execute(prepared.sql, prepared.parameters(params))
        return [prepared.make_row(raw) for raw in self._cursor.fetchall()]

    def first(self, statement: Executable, params: Mapping[str, Any]) -> Any:
        rows = self.all(statement, params)
        return rows[0] if rows else None

    def write(self, statement: Executable, params: Mapping[str, Any]) -> int:
        """A statement without RETURNING; the number of rows it changed."""
        if self._cursor is None:
            return int(self.conn.execute(statement, params).rowcount)
        prepared = self._compiled(statement)
        self._cursor.execute(prepared.sql, prepared.parameters(params))
        return int(self._cursor.rowcount)

    def write_many(self, statement: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
        """A statement without RETURNING, once per row of parameters."""
        if not rows:
            return
        if self._cursor is None:
            self.conn.execute(statement, list(rows))
            return
        prepared = self._compiled(statement)
        self._cursor.executemany(prepared.sql, [prepared.parameters(row) for row in rows])


@cache
def _prepared_for(dialect: Dialect) -> dict[Executable, Prepared]:
    # Keyed by the statement object itself (statements hash by identity): only the hot
    # statements of ``statements()`` come here, so the map holds a handful per engine.
    return {}
