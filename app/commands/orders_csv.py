"""Reading a park's orders file: CSV in, ``OrderInput`` rows or a reason per line out.

The format (README, "Orders CSV"): a header line naming the columns, in any order —

    order_id, completed_at, price_kopecks, status, and driver_id or driver_phone (or both)

``completed_at`` is ISO 8601 (``2026-11-23T14:05:00+03:00``; without an offset it is the
park's local time); ``price_kopecks`` a whole number; ``status`` ``completed`` or
``cancelled``. Extra columns are ignored. A bad line is reported with its line number and
the others are still read: reading is total, whatever the bytes (``app.commands.csv_file``
states those rules for every CSV import).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo

from app.commands.csv_file import CsvFileError, Record, read_records
from core.domain.bonus_records import OrderInput

REQUIRED = ("order_id", "completed_at", "price_kopecks", "status")
DRIVER = ("driver_id", "driver_phone")
OrdersFileError = CsvFileError  # the file as a whole cannot be read (no header, encoding)


@dataclass(frozen=True)
class Line:
    number: int  # 1 = the header
    order: OrderInput | None
    reason: str | None = None


def read_orders(data: bytes, zone: tzinfo) -> Iterator[Line]:
    """Every data line of the file, parsed or with the reason it was not."""
    hint = f"{', '.join(REQUIRED)} and driver_id or driver_phone"
    for record in read_records(data, REQUIRED, any_of=DRIVER, header_hint=hint):
        if record.cells is None:
            yield Line(record.number, None, record.reason)
        else:
            yield _line(record, zone)


def _line(record: Record, zone: tzinfo) -> Line:
    number, cell = record.number, record.get
    order_id = cell("order_id")
    if not order_id:
        return Line(number, None, "order_id is empty")
    completed_at = _moment(cell("completed_at"), zone)
    if completed_at is None:
        return Line(number, None, "completed_at is not an ISO 8601 date and time")
    price = cell("price_kopecks")
    if not price.isascii() or not price.isdigit():
        return Line(number, None, "price_kopecks must be a whole number of kopecks")
    driver_id_text, phone = cell("driver_id"), cell("driver_phone")
    driver_id = None
    if driver_id_text:
        if (
            not driver_id_text.isascii()
            or not driver_id_text.isdigit()
            or len(driver_id_text) > 18
        ):
            return Line(number, None, "driver_id must be a whole number")
        driver_id = int(driver_id_text)
    elif not phone:
        return Line(number, None, "driver_id or driver_phone is required")
    return Line(
        number,
        OrderInput(
            external_id=order_id,
            completed_at=completed_at,
            price_kopecks=int(price),  # the service refuses an absurd price with a reason
            status=cell("status").lower(),
            driver_id=driver_id,
            driver_phone=phone or None,
        ),
    )


def _moment(text: str, zone: tzinfo) -> datetime | None:
    if not text or len(text) > 40:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment
