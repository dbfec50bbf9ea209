"""The statements every bot update runs, built once per dialect with bound parameters.

Building a statement and its cache key costs more than running it on SQLite (dozens of
bind parameters for a conversation row), so the hot ones are constructed once and executed
with plain parameter dicts. Column lists come from the table definitions (``storage.rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import and_, bindparam, literal, select, union_all, update
from sqlalchemy.dialects import postgresql, sqlite

from core.domain.model import OwnerKind
from storage import tables as t
from storage.rows import CONVERSATION_FIELDS, DRIVER_COLUMNS


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


def _binds(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: bindparam(name) for name in names}


@cache
def statements(dialect: str) -> Statements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    c, d, p, k = t.conversations, t.drivers, t.partners, t.codes
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
    )
