"""How fast could an order import be on SQLite if SQLite decided the accruals itself?

    python -m bench.ledger_set_based                 # 100,000 orders, as bench.ledger
    python -m bench.ledger_set_based --orders 20000

A measuring prototype, not product code: the import of ``bench.ledger`` (same drivers, chains,
program and order stream) written as a handful of set-based statements per batch of 5,000:
stage the batch, insert the new orders, decide every level's share, the monthly cap (a
running sum per beneficiary, driver and month: ``min(cap, start + S_i) - min(cap, start +
S_(i-1))``) and the minimum-orders threshold with window functions, append the ledger rows,
then update balances, month sums and counts from them. It covers only what this benchmark's
orders need (new completed orders of one rule version; no reversals, no repeats, no
eligibility window) and refuses a program that needs more.

It runs the real import (``LedgerService.import_orders``) on one database and the prototype
on another, checks that both wrote the same orders, ledger rows, balances, month sums and
counts, and prints both rates and what each of the prototype's statements cost an order.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine

from bench.ledger import IMPORT_TARGET, T0, orders, program, seed
from core.domain.bonus import BonusProgram, RuleSet
from core.domain.bonus_records import OrderInput
from core.services.ledger import FILE_BATCH, LedgerService, check_order
from storage.database import SqlDatabase
from tests.fakes.clock import FakeClock

PARK = "mos"
DRIVERS = 10_000
STAMP = "%Y-%m-%d %H:%M:%S.%f"  # how UTCDateTime stores a moment on SQLite

NEW_ORDERS = """
INSERT INTO paying (seq, order_id, driver_id, month, price)
SELECT b.seq, :first + row_number() OVER (ORDER BY b.seq), b.driver_id, b.month, b.price
FROM batch b JOIN drivers d ON d.id = b.driver_id AND d.park_slug = :park
WHERE NOT EXISTS (
    SELECT 1 FROM orders o WHERE o.park_slug = :park AND o.external_id = b.external_id)
"""
STORE_ORDERS = """
INSERT INTO orders (id, park_slug, external_id, driver_id, completed_at, price_kopecks, status,
                    created_at, updated_at)
SELECT p.order_id, :park, b.external_id, p.driver_id, b.completed_at, p.price, 'completed',
       :now, :now
FROM paying p JOIN batch b USING (seq) ORDER BY p.seq
"""
# Three levels, as the benchmark's program: a chain stops at a partner and at a loop.
ACCRUE = """
WITH numbered AS (
    SELECT p.*, coalesce(c.completed, 0)
                + row_number() OVER (PARTITION BY p.driver_id ORDER BY p.seq) - 1 AS before
    FROM paying p LEFT JOIN driver_order_counts c ON c.driver_id = p.driver_id),
chain AS (
    SELECT n.seq, n.order_id, n.driver_id, n.month, n.price, 1 AS level,
           d1.referrer_kind AS kind, d1.referrer_id AS bid
    FROM numbered n JOIN drivers d1 ON d1.id = n.driver_id
    WHERE n.before >= :min_orders AND d1.referrer_id IS NOT NULL
    UNION ALL
    SELECT n.seq, n.order_id, n.driver_id, n.month, n.price, 2, d2.referrer_kind, d2.referrer_id
    FROM numbered n JOIN drivers d1 ON d1.id = n.driver_id
    JOIN drivers d2 ON d1.referrer_kind = 'driver' AND d2.id = d1.referrer_id
    WHERE n.before >= :min_orders AND d2.referrer_id IS NOT NULL AND d2.id <> n.driver_id
    UNION ALL
    SELECT n.seq, n.order_id, n.driver_id, n.month, n.price, 3, d3.referrer_kind, d3.referrer_id
    FROM numbered n JOIN drivers d1 ON d1.id = n.driver_id
    JOIN drivers d2 ON d1.referrer_kind = 'driver' AND d2.id = d1.referrer_id
    JOIN drivers d3 ON d2.referrer_kind = 'driver' AND d3.id = d2.referrer_id
    WHERE n.before >= :min_orders AND d3.referrer_id IS NOT NULL
      AND d3.id NOT IN (n.driver_id, d2.id)),
shares AS (
    SELECT ch.*, CASE r.kind WHEN 'fixed' THEN r.value
                 ELSE ch.price * r.value / 10000
                      + (ch.price * r.value % 10000 * 2 > 10000) END AS share
    FROM chain ch JOIN rules r USING (level)),
running AS (
    SELECT sh.*, coalesce(ms.amount_kopecks, 0) AS start,
           sum(sh.share) OVER (PARTITION BY sh.kind, sh.bid, sh.driver_id, sh.month
                               ORDER BY sh.seq) AS upto
    FROM shares sh LEFT JOIN ledger_month_sums ms
      ON ms.referred_driver_id = sh.driver_id AND ms.month = sh.month
     AND ms.beneficiary_kind = sh.kind AND ms.beneficiary_id = sh.bid)
INSERT INTO ledger (order_id, park_slug, beneficiary_kind, beneficiary_id, referred_driver_id,
                    level, rule_version, amount_kopecks, month, reversal_of, created_at)
SELECT order_id, :park, kind, bid, driver_id, level, :version, amount, month, NULL, :now
FROM (SELECT *, min(:cap, start + upto) - min(:cap, start + upto - share) AS amount
      FROM running)
WHERE amount > 0 ORDER BY seq, level
"""
BALANCES = """
INSERT INTO balances (owner_kind, owner_id, park_slug, accrued_kopecks, reserved_kopecks,
                      paid_kopecks, updated_at, alert_kopecks)
SELECT beneficiary_kind, beneficiary_id, :park, sum(amount_kopecks), 0, 0, :now,
       sum(amount_kopecks)
FROM ledger WHERE id > :after GROUP BY 1, 2
ON CONFLICT (owner_kind, owner_id) DO UPDATE SET
    accrued_kopecks = balances.accrued_kopecks + excluded.accrued_kopecks,
    alert_kopecks = balances.alert_kopecks + excluded.alert_kopecks,
    updated_at = excluded.updated_at
"""
MONTH_SUMS = """
INSERT INTO ledger_month_sums (referred_driver_id, month, beneficiary_kind, beneficiary_id,
                               amount_kopecks)
SELECT referred_driver_id, month, beneficiary_kind, beneficiary_id, sum(amount_kopecks)
FROM ledger WHERE id > :after GROUP BY 1, 2, 3, 4
ON CONFLICT DO UPDATE SET amount_kopecks = ledger_month_sums.amount_kopecks
                                           + excluded.amount_kopecks
"""
COUNTS = """
INSERT INTO driver_order_counts (driver_id, completed)
SELECT driver_id, count(*) FROM paying WHERE true GROUP BY 1
ON CONFLICT (driver_id) DO UPDATE SET completed = driver_order_counts.completed
                                                  + excluded.completed
"""
COMPARED = {
    "orders": "SELECT id, external_id, driver_id, completed_at, price_kopecks, status"
    " FROM orders ORDER BY id",
    "ledger rows": "SELECT id, order_id, beneficiary_kind, beneficiary_id, referred_driver_id,"
    " level, rule_version, amount_kopecks, month FROM ledger ORDER BY id",
    "balances": "SELECT owner_kind, owner_id, accrued_kopecks, alert_kopecks FROM balances"
    " ORDER BY 1, 2",
    "month sums": "SELECT * FROM ledger_month_sums ORDER BY 1, 2, 3, 4",
    "counts": "SELECT * FROM driver_order_counts ORDER BY 1",
}


def the_rules(bonus: BonusProgram) -> RuleSet:
    (rules,) = bonus.versions
    if rules.window_days is not None or rules.monthly_cap_kopecks is None or rules.depth != 3:
        raise SystemExit("the prototype covers one capped 3-level version without a window")
    return rules


class Prototype:
    def __init__(self, path: Path, bonus: BonusProgram) -> None:
        self.bonus = bonus
        self.rules = the_rules(bonus)
        self.spent: Counter[str] = Counter()
        self.con = sqlite3.connect(path, isolation_level=None)
        for pragma in (  # as the application's import connection has them
            "journal_mode = WAL",
            "synchronous = NORMAL",
            "foreign_keys = ON",
            "cache_size = -65536",
            "wal_autocheckpoint = 4096",
        ):
            self.con.execute(f"PRAGMA {pragma}")
        self.con.execute(
            "CREATE TEMP TABLE batch (seq INTEGER PRIMARY KEY, external_id TEXT,"
            " driver_id INTEGER, completed_at TEXT, price INTEGER, month TEXT)"
        )
        self.con.execute(
            "CREATE TEMP TABLE paying (seq INTEGER PRIMARY KEY, order_id INTEGER,"
            " driver_id INTEGER, month TEXT, price INTEGER)"
        )
        self.con.execute("CREATE TEMP TABLE rules (level INTEGER PRIMARY KEY, kind, value)")
        self.con.executemany(
            "INSERT INTO rules VALUES (?, ?, ?)",
            [(rule.level, rule.kind.value, rule.value) for rule in self.rules.levels],
        )

    def run(self, sql: str, params: Any = (), *, many: bool = False) -> sqlite3.Cursor:
        started = time.perf_counter()
        cursor = (self.con.executemany if many else self.con.execute)(sql, params)
        self.spent[" ".join(sql.split())[:48]] += time.perf_counter() - started
        return cursor

    def import_batch(self, batch: Sequence[OrderInput]) -> None:
        months: dict[datetime, str] = {}
        staged = []
        for seq, raw in enumerate(batch):
            if check_order(raw) is not None or raw.driver_id is None:
                continue
            month = months.get(raw.completed_at)
            if month is None:
                month = months[raw.completed_at] = self.bonus.month(raw.completed_at)
            moment = raw.completed_at.astimezone(UTC).strftime(STAMP)
            staged.append((seq, raw.external_id, raw.driver_id, moment, raw.price_kopecks, month))
        now = T0.strftime(STAMP)
        self.run("BEGIN IMMEDIATE")
        self.run("DELETE FROM batch")
        self.run("DELETE FROM paying")
        self.run("INSERT INTO batch VALUES (?, ?, ?, ?, ?, ?)", staged, many=True)
        first = self.run("SELECT coalesce(max(id), 0) FROM orders").fetchone()[0]
        after = self.run("SELECT coalesce(max(id), 0) FROM ledger").fetchone()[0]
        self.run(NEW_ORDERS, {"first": first, "park": PARK})
        self.run(STORE_ORDERS, {"park": PARK, "now": now})
        self.run(
            ACCRUE,
            {
                "park": PARK,
                "now": now,
                "min_orders": self.rules.min_orders,
                "version": self.rules.version,
                "cap": self.rules.monthly_cap_kopecks,
            },
        )
        self.run(BALANCES, {"park": PARK, "now": now, "after": after})
        self.run(MONTH_SUMS, {"after": after})
        self.run(COUNTS)
        self.run("COMMIT")


def fresh_database(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        seed(conn, DRIVERS)
    engine.dispose()


async def the_import(path: Path, stream: list[OrderInput], batch: int) -> float:
    db = SqlDatabase(f"sqlite:///{path}", FakeClock(T0))
    try:
        service = LedgerService(db, {PARK: program()}, FakeClock(T0))
        started = time.perf_counter()
        for start in range(0, len(stream), batch):
            await service.import_orders(PARK, stream[start : start + batch])
        return time.perf_counter() - started
    finally:
        await db.dispose()


def the_prototype(path: Path, stream: list[OrderInput], batch: int) -> tuple[float, Counter[str]]:
    prototype = Prototype(path, program())
    try:
        started = time.perf_counter()
        for start in range(0, len(stream), batch):
            prototype.import_batch(stream[start : start + batch])
        return time.perf_counter() - started, prototype.spent
    finally:
        prototype.con.close()


def differences(real: Path, prototype: Path) -> list[str]:
    found = []
    with sqlite3.connect(real) as a, sqlite3.connect(prototype) as b:
        for name, sql in COMPARED.items():
            left, right = a.execute(sql).fetchall(), b.execute(sql).fetchall()
            if left != right:
                found.append(f"{name}: {len(left)} rows from the import, {len(right)} here")
    return found


def main(n: int, batch: int) -> None:
    stream = orders(n, DRIVERS)
    with tempfile.TemporaryDirectory() as tmp:
        real, prototype = Path(tmp) / "import.db", Path(tmp) / "prototype.db"
        fresh_database(real)
        fresh_database(prototype)
        imported = asyncio.run(the_import(real, stream, batch))
        decided, spent = the_prototype(prototype, stream, batch)
        wrong = differences(real, prototype)
    print(f"{n:,} orders in batches of {batch:,}, 3 levels, a monthly cap, a minimum of orders")
    for name, elapsed in (("the import", imported), ("set-based prototype", decided)):
        rate = n / elapsed
        print(
            f"{name}: {rate:,.0f} orders/s = {elapsed / n * 1e6:.1f} µs an order "
            f"({rate / IMPORT_TARGET:.2f}x the {IMPORT_TARGET:,} target)"
        )
    print("the prototype's statements, µs an order:")
    for statement, elapsed in spent.most_common(8):
        print(f"  {elapsed / n * 1e6:6.1f}  {statement}")
    if wrong:
        raise SystemExit("the prototype wrote something else: " + "; ".join(wrong))
    print("both wrote the same orders, ledger rows, balances, month sums and counts")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=FILE_BATCH)
    args = parser.parse_args()
    main(args.orders, args.batch)
