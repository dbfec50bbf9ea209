"""Cost of one update in core + storage, without a bot framework.

    python -m bench.flow --drivers 300

Each simulated driver registers in three updates (/start, contact, code or no-code button).
Printed: updates per second, CPU and SQL statements per update, and the cost of one update
in units of the cheapest unit of work (one ``SELECT 1`` in a transaction) on the same
database, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from app.bootstrap import build
from app.settings import load_settings
from core.domain.model import Channel, Identity, Profile
from core.events import ContactShared, Incoming, Pressed, Start, Text
from core.replies import Action
from storage.database import SqlDatabase
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms

PARK = {
    "slug": "mos",
    "name": "Мос ГорТакси",
    "landing_url": "https://mos-gortaxi.ru/ref",
    "telegram_username": "mos_gortaxi_bot",
}


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


async def unit_floor(db: SqlDatabase, n: int) -> float:
    """Seconds per unit of work that runs one ``SELECT 1`` (thread hop, BEGIN, COMMIT)."""
    started = time.perf_counter()
    for _ in range(n):
        await db.run_on_connection(lambda conn: conn.execute(text("SELECT 1")).scalar_one())
    return (time.perf_counter() - started) / n


async def main(drivers: int, database_url: str | None) -> None:
    data = Path(tempfile.mkdtemp(prefix="taxireg-bench-"))
    url = database_url or f"sqlite:///{data / 'bench.db'}"
    settings = load_settings(None, data_dir=data, database={"url": url}, parks=[PARK])
    app = await build(settings, clock=FakeClock(), sms=RecordingSms())
    partner = await app.admin.add_partner("mos", "+79160000001", "Иван")
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    # SQLite runs the hot statements on the driver's connection, past SQLAlchemy's events:
    # sqlite3's own trace hook sees every statement (BEGIN and COMMIT too).
    sqlite = not app.db.is_postgres
    if sqlite:
        await app.db.run_on_connection(lambda c: _driver(c).set_trace_callback(count))
    else:
        event.listen(app.db.sync_engine, "before_cursor_execute", count)
    updates = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(drivers):
        who = Identity(Channel.TELEGRAM, str(10_000 + i))
        last = Text(partner.code) if i % 2 else Pressed(Action.NO_CODE)
        for event_id, item in enumerate(
            (Start(), ContactShared(f"+7916{i:07d}", own=True), last), start=1
        ):
            incoming = Incoming("mos", who, item, Profile("Пётр", "ru"), event_id)
            await app.registration.handle(incoming)
            updates += 1
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if sqlite:
        await app.db.run_on_connection(lambda c: _driver(c).set_trace_callback(None))
    else:
        event.remove(app.db.sync_engine, "before_cursor_execute", count)
    floor = await unit_floor(app.db, 500)
    await app.aclose()
    per_update = elapsed / updates
    print(f"database             {url.split(':')[0]}")
    print(f"registrations        {drivers} ({updates} updates) in {elapsed:.2f} s")
    print(f"updates per second   {updates / elapsed:.0f}")
    print(f"per update           {per_update * 1e3:.2f} ms")
    print(f"CPU per update       {cpu / updates * 1e3:.2f} ms (every thread)")
    print(f"SQL per update       {statements / updates:.2f} statements (BEGIN and COMMIT too)")
    print(f"one-statement unit   {floor * 1e6:.0f} us")
    print(f"update / unit        {per_update / floor:.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drivers", type=int, default=300)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    asyncio.run(main(args.drivers, args.database_url))
