"""Bonus ledger benchmark: order import rate and the cost of a balance query.

    python -m bench.ledger                      # SQLite in a temporary directory
    python -m bench.ledger --orders 20000       # a quicker run
    python -m bench.ledger --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/bench

Part 1 seeds 10,000 drivers in referral chains (each driver referred by the previous one,
every 100th by a partner), a 3-level program (10 %, 50 ₽ fixed, 2.5 %, with a monthly cap
and a minimum-orders threshold so every rule is exercised), and imports 100,000 completed
orders through ``LedgerService.import_orders`` in batches of 5,000 (the CLI's transaction;
``--batch 1000`` for the API's).
Printed: orders per second against the 20,000 orders/s target, and ledger rows written.

Part 1b is the floor under part 1, measured in the same run on SQLite: the orders and ledger
rows the import wrote, copied batch by batch with ``INSERT … SELECT`` into empty copies of the
two tables, so nothing but SQLite's own storing of them is timed (no Python per row, no
reads, no summaries). Twice: with the tables as migrated, and with only what the issue's
reads need (the order key, the ledger by beneficiary and by order), no foreign keys. An
import cannot be faster than storing its rows; if the floor is near the target, so is the
ceiling.

Part 2 gives one partner 100,000 ledger rows (bulk-inserted) and times
``LedgerService.balance`` (a primary-key read of the balances summary), against the 5 ms
target and against summing the ledger itself, measured in the same run.
WARNING: on PostgreSQL the schema of the given database is dropped and recreated.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import Connection

from core.domain.bonus import Accrual, Beneficiary, BonusProgram, LevelRule, RewardKind, RuleSet
from core.domain.bonus_records import OrderInput
from core.domain.model import OwnerKind
from core.services.ledger import FILE_BATCH, LedgerService
from storage import tables as t
from storage.database import SqlDatabase
from storage.ledger import SqlLedger
from storage.migrate import alembic_config
from tests.fakes.clock import FakeClock

T0 = datetime(2026, 11, 1, tzinfo=UTC)
IMPORT_TARGET = 20_000  # orders per second
BALANCE_TARGET_MS = 5.0
PARTNER_EVERY = 100


def program() -> BonusProgram:
    levels = (
        LevelRule(1, RewardKind.PERCENT, 1000),
        LevelRule(2, RewardKind.FIXED, 5000),
        LevelRule(3, RewardKind.PERCENT, 250),
    )
    rules = RuleSet(1, T0, levels, monthly_cap_kopecks=5_000_000, min_orders=1)
    return BonusProgram("mos", (rules,))


def seed(conn: Connection, drivers: int) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    command.upgrade(alembic_config(conn), "head")
    conn.execute(
        insert(t.parks),
        [{"slug": "mos", "name": "Мос", "landing_url": "https://x.ru/ref", "updated_at": T0}],
    )
    partners = drivers // PARTNER_EVERY + 1
    conn.execute(
        insert(t.codes),
        [
            {"code": f"p{i}", "park_slug": "mos", "kind": "partner", "created_at": T0}
            for i in range(1, partners + 1)
        ]
        + [
            {"code": f"d{i}", "park_slug": "mos", "kind": "driver", "created_at": T0}
            for i in range(1, drivers + 1)
        ],
    )
    conn.execute(
        insert(t.partners),
        [
            {
                "id": i,
                "park_slug": "mos",
                "phone": f"+7900{i:07d}",
                "code": f"p{i}",
                "created_at": T0,
                "updated_at": T0,
            }
            for i in range(1, partners + 1)
        ],
    )
    rows = []
    for i in range(1, drivers + 1):
        by_partner = i % PARTNER_EVERY == 1
        rows.append(
            {
                "id": i,
                "park_slug": "mos",
                "phone": f"+7916{i:07d}",
                "own_code": f"d{i}",
                "referrer_kind": "partner" if by_partner else "driver",
                "referrer_id": i // PARTNER_EVERY + 1 if by_partner else i - 1,
                "channel": "telegram",
                "source": "typed",
                "created_at": T0,
                "updated_at": T0,
            }
        )
    conn.execute(insert(t.drivers), rows)


def orders(n: int, drivers: int) -> list[OrderInput]:
    rng = random.Random(12)
    return [
        OrderInput(
            external_id=f"ord-{i}",
            completed_at=T0 + timedelta(seconds=i * 20),
            price_kopecks=rng.randint(20_000, 300_000),
            status="completed",
            driver_id=rng.randint(1, drivers),
        )
        for i in range(n)
    ]


async def import_part(db: SqlDatabase, n: int, drivers: int, batch: int) -> None:
    service = LedgerService(db, {"mos": program()}, FakeClock(T0))
    stream = orders(n, drivers)
    started, cpu_started = time.perf_counter(), time.process_time()
    entries = 0
    last = max(n // 10, batch)  # the last tenth: the rate once the ledger is large
    tail_started, tail_cpu = started, cpu_started
    for start in range(0, n, batch):
        if start == n - last:
            tail_started, tail_cpu = time.perf_counter(), time.process_time()
        report = await service.import_orders("mos", stream[start : start + batch])
        entries += report.entries
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # this process, the database thread included
    tail, tail_cpu = time.perf_counter() - tail_started, time.process_time() - tail_cpu
    rate = n / elapsed
    print(
        f"import: {n} orders in batches of {batch:,} in {elapsed:.2f} s = {rate:,.0f} orders/s "
        f"({rate / IMPORT_TARGET:.2f}x the {IMPORT_TARGET:,} target), {entries} ledger rows; "
        f"{n / cpu:,.0f} orders per CPU second"
    )
    print(
        f"  the last {last:,} orders: {last / tail:,.0f} orders/s, "
        f"{last / tail_cpu:,.0f} per CPU second; load average {os.getloadavg()[0]:.1f}"
    )
    again = time.perf_counter()
    for start in range(0, min(n, 10_000), batch):
        await service.import_orders("mos", stream[start : start + batch])
    redo = min(n, 10_000) / (time.perf_counter() - again)
    print(f"re-delivery (nothing to do): {redo:,.0f} orders/s")


STORED = ("orders", "ledger")
# What the issue's own reads need of the two tables: orders by (park, external id), ledger
# rows by beneficiary and by order, a row reversed at most once.
LEAN_DROPPED = re.compile(r"\s*CONSTRAINT (fk_|ck_|uq_ledger_reversal_of)")
LEAN_INDEXES = {"ix_ledger_park_month"}


def copy_ddl(conn: Connection, lean: bool) -> list[str]:
    """The DDL of ``STORED`` for empty ``floor_*`` copies, indexes included."""
    statements = []
    rows = conn.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE tbl_name IN (?, ?)"
        " AND sql IS NOT NULL ORDER BY type DESC",  # tables before their indexes
        STORED,
    ).all()
    for name, sql in rows:
        if lean and name in LEAN_INDEXES:
            continue
        if lean:  # SQLAlchemy's DDL: one column or constraint per line
            kept = [line for line in sql.splitlines() if not LEAN_DROPPED.match(line)]
            sql = re.sub(r",\s*\n\)$", "\n)", "\n".join(kept))
        sql = re.sub(r"\b(orders|ledger)\b(?=\s*\()", r"floor_\1", sql)
        sql = re.sub(r"INDEX (\w+)", r"INDEX floor_\1", sql)
        statements.append(sql)
    if lean:
        statements.append(
            "CREATE UNIQUE INDEX floor_uq_reversal ON floor_ledger (reversal_of)"
            " WHERE reversal_of IS NOT NULL"
        )
    return statements


async def floor_part(db: SqlDatabase, n: int, batch: int) -> None:
    if db.dialect != "sqlite":
        return
    for lean in (False, True):

        def create(conn: Connection, lean: bool = lean) -> None:
            for table in reversed(STORED):  # the ledger refers to the orders
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS floor_{table}")
            for sql in copy_ddl(conn, lean):
                conn.exec_driver_sql(sql)

        await db.run_on_connection(create)
        first = await db.run_on_connection(
            lambda c: c.exec_driver_sql("SELECT min(id) FROM orders").scalar_one()
        )
        elapsed = 0.0
        for low in range(first, first + n, batch):

            def store(conn: Connection, low: int = low) -> None:
                bounds = (low, low + batch - 1)
                conn.exec_driver_sql(
                    "INSERT INTO floor_orders SELECT * FROM orders WHERE id BETWEEN ? AND ?",
                    bounds,
                )
                conn.exec_driver_sql(
                    "INSERT INTO floor_ledger SELECT * FROM ledger"
                    " WHERE order_id BETWEEN ? AND ? ORDER BY id",
                    bounds,
                )

            started = time.perf_counter()
            await db.run_on_connection(store)
            elapsed += time.perf_counter() - started
        rate = n / elapsed
        shape = "only the indexes the reads need, no foreign keys" if lean else "as migrated"
        print(
            f"floor, storing those orders and ledger rows alone ({shape}): {rate:,.0f} orders/s "
            f"= {elapsed / n * 1e6:.1f} µs an order ({rate / IMPORT_TARGET:.2f}x the target)"
        )


def fill_ledger(conn: Connection, rows: int) -> None:
    """Give partner 1 ``rows`` more ledger rows, each on an order of its own."""
    base = conn.execute(select(func.coalesce(func.max(t.orders.c.id), 0))).scalar_one()
    chunk = 10_000
    for start in range(0, rows, chunk):
        count = min(chunk, rows - start)
        conn.execute(
            insert(t.orders),
            [
                {
                    "id": base + start + k + 1,
                    "park_slug": "mos",
                    "external_id": f"bal-{start + k}",
                    "driver_id": 2,
                    "completed_at": T0,
                    "price_kopecks": 1000,
                    "status": "completed",
                    "created_at": T0,
                    "updated_at": T0,
                }
                for k in range(count)
            ],
        )
        owner = Beneficiary(OwnerKind.PARTNER, 1)
        row = Accrual("bal", owner, 2, 2, 1, 100, "2026-11")
        # Through the repository's own write: ledger rows and the summary together.
        SqlLedger(conn).post("mos", [(base + start + k + 1, row) for k in range(count)], T0)


async def balance_part(db: SqlDatabase, rows: int, repeats: int = 300) -> None:
    await db.run_on_connection(lambda conn: fill_ledger(conn, rows))
    service = LedgerService(db, {"mos": program()}, FakeClock(T0))
    owner = Beneficiary(OwnerKind.PARTNER, 1)
    total_rows = await db.run_on_connection(
        lambda c: c.execute(
            select(func.count()).where(
                t.ledger.c.beneficiary_kind == "partner", t.ledger.c.beneficiary_id == 1
            )
        ).scalar_one()
    )
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        balance = await service.balance(owner)
        timings.append((time.perf_counter() - started) * 1000)
    summed = []
    for _ in range(max(3, repeats // 30)):
        started = time.perf_counter()
        derived = await db.run_on_connection(
            lambda c: c.execute(
                select(func.sum(t.ledger.c.amount_kopecks)).where(
                    t.ledger.c.beneficiary_kind == "partner", t.ledger.c.beneficiary_id == 1
                )
            ).scalar_one()
        )
        summed.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    print(
        f"balance with {total_rows:,} ledger rows: median {median:.3f} ms, "
        f"p95 {sorted(timings)[int(len(timings) * 0.95)]:.3f} ms "
        f"({median / BALANCE_TARGET_MS:.3f} of the {BALANCE_TARGET_MS} ms target); "
        f"summing the ledger instead: {statistics.median(summed):.2f} ms "
        f"({statistics.median(summed) / median:.0f}x)"
    )
    if balance.accrued != int(derived):
        raise SystemExit(f"summary {balance.accrued} != ledger {derived}")


async def main(
    n_orders: int, drivers: int, balance_rows: int, url: str | None, batch: int = FILE_BATCH
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database_url = url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        db = SqlDatabase(database_url, FakeClock(T0))
        try:
            await db.run_on_connection(lambda conn: seed(conn, drivers))
            print(f"{db.dialect}: {drivers} drivers in chains, 3 levels")
            await import_part(db, n_orders, drivers, batch)
            await floor_part(db, n_orders, batch)
            await balance_part(db, balance_rows)
        finally:
            await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--drivers", type=int, default=10_000)
    parser.add_argument("--balance-rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--batch", type=int, default=FILE_BATCH, help="orders per transaction")
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.drivers, args.balance_rows, args.database_url, args.batch))
