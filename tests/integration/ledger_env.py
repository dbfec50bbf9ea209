"""Ledger tests' environment: a migrated database with a small referral tree, on real SQLite
and (with TAXIREG_TEST_POSTGRES_URL) PostgreSQL, and the ledger service over it.

Self-contained (migrations run here): it does not depend on the app's container.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from core.domain.bonus import Beneficiary, BonusProgram, LevelRule, RewardKind, RuleSet
from core.domain.bonus_records import OrderInput
from core.domain.model import OwnerKind
from core.services.ledger import LedgerService
from storage import tables as t
from storage.database import SqlDatabase
from storage.migrate import alembic_config
from tests.fakes.clock import FakeClock

POSTGRES_URL = os.environ.get("TAXIREG_TEST_POSTGRES_URL")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
PARTNER = Beneficiary(OwnerKind.PARTNER, 1)
D1 = Beneficiary(OwnerKind.DRIVER, 1)
D2 = Beneficiary(OwnerKind.DRIVER, 2)


def migrate(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    command.upgrade(alembic_config(conn), "head")


def seed(conn: Connection) -> None:
    """Park mos: partner 1 <- driver 1 <- driver 2 <- driver 3; driver 4 referred by nobody."""
    conn.execute(
        insert(t.parks),
        [{"slug": "mos", "name": "Мос", "landing_url": "https://x.ru/ref", "updated_at": T0}],
    )
    conn.execute(
        insert(t.codes),
        [
            {"code": c, "park_slug": "mos", "kind": k, "created_at": T0}
            for c, k in [
                ("p1", "partner"),
                ("d1", "driver"),
                ("d2", "driver"),
                ("d3", "driver"),
                ("d4", "driver"),
            ]
        ],
    )
    conn.execute(
        insert(t.partners),
        [
            {
                "id": 1,
                "park_slug": "mos",
                "phone": "+79160000100",
                "code": "p1",
                "created_at": T0,
                "updated_at": T0,
            }
        ],
    )
    referrers = {1: ("partner", 1), 2: ("driver", 1), 3: ("driver", 2), 4: (None, None)}
    conn.execute(
        insert(t.drivers),
        [
            {
                "id": i,
                "park_slug": "mos",
                "phone": f"+7916000000{i}",
                "own_code": f"d{i}",
                "referrer_kind": kind,
                "referrer_id": ref,
                "channel": "telegram",
                "source": "typed",
                "created_at": T0,
                "updated_at": T0,
            }
            for i, (kind, ref) in referrers.items()
        ],
    )


def program(**options: object) -> BonusProgram:
    levels = (
        LevelRule(1, RewardKind.PERCENT, 1000),  # 10 %
        LevelRule(2, RewardKind.FIXED, 5000),
        LevelRule(3, RewardKind.PERCENT, 250),  # 2.5 %
    )
    return BonusProgram(
        "mos",
        (RuleSet(1, T0, levels, **options),),
        payout_minimum_kopecks=10_000,  # type: ignore[arg-type]
    )


def backends() -> list[str]:
    return ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]


@pytest.fixture(params=backends())
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlDatabase]:
    url = f"sqlite:///{tmp_path / 'ledger.db'}" if request.param == "sqlite" else POSTGRES_URL
    assert url is not None
    database = SqlDatabase(url, FakeClock(T0))
    try:
        await database.run_on_connection(migrate)
        await database.run_on_connection(seed)
        yield database
    finally:
        await database.dispose()


def make_service(
    db: SqlDatabase, clock: FakeClock | None = None, **options: object
) -> LedgerService:
    return LedgerService(db, {"mos": program(**options)}, clock or FakeClock(T0))


def order(oid: str, driver: int, price: int, status: str = "completed", **kw: Any) -> OrderInput:
    at = kw.pop("at", T0 + timedelta(days=2))
    return OrderInput(oid, at, price, status, driver_id=driver, **kw)


async def count(db: SqlDatabase, table: t.Table) -> int:
    return await db.run_on_connection(
        lambda c: c.execute(select(func.count()).select_from(table)).scalar_one()
    )
