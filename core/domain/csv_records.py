"""Reading an operator's CSV file: a header naming the columns, then one record a line.

Shared by every CSV import (orders, partners; the CLI's files and the admin API's bodies),
so each rule is stated once: the file is UTF-8 (a byte-order mark from Excel is dropped),
the header names the columns in any order and any case, extra columns are ignored, blank
lines are skipped, and a bad line is a reason with its line number while the others are
still read. Reading is total, whatever
the bytes: the only whole-file refusals are the encoding and the header.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

MAX_FIELD = 1_000  # characters; a longer cell is refused, not stored or echoed whole
_NUL = "\ufffe"  # stands in for NUL, which the csv module refuses outright


class CsvFileError(ValueError):
    """The file as a whole cannot be read (no header, wrong encoding)."""


@dataclass(frozen=True)
class Record:
    """One data line: its cells by (lower-case) column name, or the reason it is unreadable."""

    number: int  # 1 = the header
    cells: dict[str, str] | None
    reason: str | None = None

    def get(self, name: str) -> str:
        """The stripped cell, "" when the column is absent or the line is short."""
        return (self.cells or {}).get(name, "").strip()


def read_records(
    data: bytes,
    required: Sequence[str],
    *,
    any_of: Sequence[str] = (),
    header_hint: str | None = None,
) -> Iterator[Record]:
    """Every non-blank data line of ``data``; ``CsvFileError`` for the file as a whole.

    ``required`` columns must all be named in the header, and at least one of ``any_of``
    when given; ``header_hint`` is what the error says the header must name.
    """
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            f"the file is not UTF-8 text (byte {exc.start}); save it as CSV UTF-8"
        ) from None
    reader = csv.reader(io.StringIO(content.replace("\x00", _NUL), newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvFileError(f"the header line is unreadable CSV: {exc}") from None
    if header is None:
        raise CsvFileError("the file is empty; the first line must name the columns")
    names = [name.strip().lower() for name in header]
    missing = [name for name in required if name not in names]
    lacks_any = bool(any_of) and not any(name in names for name in any_of)
    if missing or lacks_any:
        wanted = ", ".join(missing + ([any_of[0]] if lacks_any else []))
        hint = header_hint or ", ".join([*required, *any_of])
        raise CsvFileError(f"the header lacks {wanted}; it must name {hint}")
    # The first column of a repeated name wins.
    column = {name: index for index, name in reversed(list(enumerate(names)))}
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a quote never closed: the rest is one broken cell
            yield Record(reader.line_num, None, f"unreadable CSV: {exc}")
            return
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are not records
        yield _record(reader.line_num, cells, column)


def _record(number: int, cells: list[str], column: dict[str, int]) -> Record:
    for value in cells:
        if _NUL in value:
            return Record(number, None, "contains a NUL character")
        if len(value) > MAX_FIELD:
            return Record(number, None, f"a cell is longer than {MAX_FIELD} characters")
    by_name = {name: cells[index] for name, index in column.items() if index < len(cells)}
    return Record(number, by_name)


def csv_cell(value: object) -> str:
    """A value as a cell of the exports (CLI and admin API): "" for None, ISO times, and a
    leading ``'`` where a spreadsheet would run the cell as a formula."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    cell = str(value)
    # A spreadsheet runs a cell starting with = or @ as a formula: a partner named
    # "=HYPERLINK(...)" must stay text. (+ and - start phones and numbers; they stay.)
    return "'" + cell if cell[:1] in ("=", "@", "\t", "\r") else cell
