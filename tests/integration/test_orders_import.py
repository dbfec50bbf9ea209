"""A CSV file of orders into the real ledger (SQLite and PostgreSQL): good lines kept, bad
lines reported by number, a second import changing nothing; and the month export."""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfo

from app.commands.ledger import EXPORT_COLUMNS, write_export
from app.commands.orders import import_file
from storage import tables as t
from storage.database import SqlDatabase
from tests.integration.ledger_env import D1, PARTNER, count, db, make_service

__all__ = ["db"]  # the fixture

MSK = ZoneInfo("Europe/Moscow")
FILE = (
    "order_id,driver_id,driver_phone,completed_at,price_kopecks,status\n"
    "a,2,,2026-11-03T12:00:00+03:00,100000,completed\n"  # D1 10 000, partner 5 000
    "b,,8 916 000-00-03,2026-11-03 12:00,100000,completed\n"  # by phone: driver 3
    "c,99,,2026-11-03T12:00:00+03:00,100000,completed\n"  # unknown driver
    "d,2,,someday,100000,completed\n"  # bad time
    "e,2,,2026-11-03T12:00:00+03:00,-5,completed\n"  # bad price
    "=cmd,2,,2026-11-03T12:00:00+03:00,1000,completed\n"  # a formula-looking order id
    "a,2,,2026-11-03T12:00:00+03:00,100000,cancelled\n"  # a cancelled later in the file
    "f,2,,2026-11-03T12:00:00+03:00,100000,shipped\n"  # bad status
)


async def test_file_import_then_reimport(db: SqlDatabase) -> None:
    service = make_service(db)
    seen: list[int] = []
    first = await import_file(service, "mos", FILE.encode(), MSK, advance=seen.append)
    assert (first.lines, first.accepted, first.reversed) == (8, 3, 1)
    assert [(line, reason.split()[0]) for line, _, reason in first.problems] == [
        (4, "no"),
        (5, "completed_at"),
        (6, "price_kopecks"),
        (9, "status"),
    ]
    assert sum(seen) == 6  # lines handed to the service (5 and 6 the reader refused)
    # a: reversed; b: D2 10 000, D1 5 000, partner 2 500; =cmd: D1 100, partner 5 000.
    assert (await service.balance(D1)).accrued == 5_100
    assert (await service.balance(PARTNER)).accrued == 7_500
    rows, orders = await count(db, t.ledger), await count(db, t.orders)

    again = await import_file(service, "mos", FILE.encode(), MSK)
    assert (again.accepted, again.reversed, again.entries) == (0, 0, 0)
    assert again.unchanged == 4  # a twice, b, =cmd
    assert len(again.problems) == 4
    assert (await count(db, t.ledger), await count(db, t.orders)) == (rows, orders)

    out = io.StringIO()
    write_export(await service.month_entries("mos", "2026-11"), out)
    exported = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(exported[0]) == EXPORT_COLUMNS
    assert sum(int(r["amount_kopecks"]) for r in exported) == 5_100 + 7_500 + 10_000
    assert {r["order_id"] for r in exported} == {"a", "b", "'=cmd"}
    reversal = next(r for r in exported if int(r["amount_kopecks"]) < 0)
    assert reversal["reversal_of"]
