"""Reading a park's orders file: CSV in, ``OrderInput`` rows or a reason per line out.

The format (README, "Orders CSV"): a header line naming the columns, in any order —

    order_id, completed_at, price_kopecks, status, and driver_id or driver_phone (or both)

``completed_at`` is ISO 8601 (``2026-11-23T14:05:00+03:00``; without an offset it is the
park's local time); ``price_kopecks`` a whole number; ``status`` ``completed`` or
``cancelled``. Extra columns are ignored. A bad line is reported with its line number and
the others are still read: reading is total, whatever the bytes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, tzinfo

from core.domain.bonus_records import OrderInput

REQUIRED = ("order_id", "completed_at", "price_kopecks", "status")
DRIVER = ("driver_id", "driver_phone")
_MAX_FIELD = 1_000  # characters; a longer cell is refused, not stored or echoed whole
_NUL = "\ufffe"  # stands in for NUL, which the csv module refuses outright


class OrdersFileError(ValueError):
    """The file as a whole cannot be read (no header, wrong encoding)."""


@dataclass(frozen=True)
class Line:
    number: int  # 1 = the header
    order: OrderInput | None
    reason: str | None = None


def read_orders(data: bytes, zone: tzinfo) -> Iterator[Line]:
    """Every data line of the file, parsed or with the reason it was not."""
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise OrdersFileError(
            f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(content.replace("\x00", _NUL), newline=""))
    header = next(reader, None)
    if header is None:
        raise OrdersFileError("the file is empty; the first line must name the columns")
    names = [name.strip().lower() for name in header]
    missing = [name for name in REQUIRED if name not in names]
    if missing or not any(name in names for name in DRIVER):
        wanted = ", ".join(missing + ([] if any(n in names for n in DRIVER) else ["driver_id"]))
        raise OrdersFileError(
            f"the header lacks {wanted}; it must name {', '.join(REQUIRED)} "
            "and driver_id or driver_phone"
        )
    column = {name: index for index, name in reversed(list(enumerate(names)))}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a quote never closed: the rest is one broken cell
            yield Line(reader.line_num, None, f"unreadable CSV: {exc}")
            return
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not orders
        yield _line(reader.line_num, cells, column, zone)


def _line(number: int, cells: list[str], column: dict[str, int], zone: tzinfo) -> Line:
    def cell(name: str) -> str:
        index = column.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    for value in cells:
        if _NUL in value:
            return Line(number, None, "contains a NUL character")
        if len(value) > _MAX_FIELD:
            return Line(number, None, f"a cell is longer than {_MAX_FIELD} characters")
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
