"""Output shared by the commands: rich tables for people, ``--json`` for scripts.

Table cells are ``rich.text.Text`` so that a partner named ``[red]x`` prints literally
instead of being read as markup. JSON keys are part of the CLI's contract: add keys, do not
rename them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO

from core.domain.csv_records import csv_cell  # one rule for the CLI's and the API's exports

WIDE = 200  # columns when stdout is a pipe: wrap nothing a script might grep


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print JSON (stable keys) instead of a table"
    )


def emit_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip() if value else "-"


def text(value: object) -> str:
    return "-" if value is None or value == "" else str(value)


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else WIDE)


def table(title: str | None, headers: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", show_lines=False)
    for header in headers:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*(Text(text(cell)) for cell in row))
    _console().print(grid)


def fields(title: str | None, rows: Iterable[tuple[str, object]]) -> None:
    """A two-column "label: value" card."""
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(Text(label), Text(text(value)))
    _console().print(grid)


class Format:
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


def add_format_flags(parser: argparse.ArgumentParser) -> None:
    """``--csv`` or ``--json`` instead of a table; all three are streamed."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument(
        "--csv", dest="format", action="store_const", const=Format.CSV, help="print CSV"
    )
    which.add_argument(
        "--json",
        dest="format",
        action="store_const",
        const=Format.JSON,
        help="print a JSON array (stable keys)",
    )
    parser.set_defaults(format=Format.TABLE)


async def stream(
    fmt: str,
    title: str,
    headers: Sequence[str],
    pages: AsyncIterator[Sequence[dict[str, Any]]],
    *,
    out: TextIO | None = None,
) -> int:
    """Print ``pages`` of records (dicts keyed by ``headers``) as they arrive, and return how
    many there were: nothing is held beyond one page, whatever the total.

    A table is printed a page at a time, the header with the first; CSV and JSON are
    written record by record and flushed after each page, so a reader (``| head``, a
    spreadsheet import) gets rows while the query still runs.
    """
    import csv

    out = out or sys.stdout
    count = 0
    writer = csv.writer(out, lineterminator="\n") if fmt == Format.CSV else None
    if writer is not None:
        writer.writerow(headers)
    elif fmt == Format.JSON:
        out.write("[")
    async for page in pages:
        if fmt == Format.TABLE:
            _table_page(title if count == 0 else None, headers, page, header=count == 0)
        for record in page:
            if writer is not None:
                writer.writerow([csv_cell(record.get(h)) for h in headers])
            elif fmt == Format.JSON:
                line = json.dumps(record, ensure_ascii=False, default=_default)
                out.write(("\n  " if count == 0 else ",\n  ") + line)
            count += 1
        out.flush()
    if fmt == Format.JSON:
        out.write("\n]\n" if count else "]\n")
    elif fmt == Format.TABLE and count == 0:
        print(f"{title}: none", file=out)
    out.flush()
    return count


def _table_page(
    title: str | None, headers: Sequence[str], page: Sequence[dict[str, Any]], *, header: bool
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    grid = Table(title=title, title_justify="left", show_header=header, box=box.SIMPLE)
    for name in headers:
        grid.add_column(name, overflow="fold")
    for record in page:
        value = [record.get(name) for name in headers]
        grid.add_row(*(Text(when(v) if isinstance(v, datetime) else text(v)) for v in value))
    _console().print(grid)
