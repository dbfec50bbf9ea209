"""Output shared by the commands: rich tables for people, ``--json`` for scripts.

Table cells are ``rich.text.Text`` so that a partner named ``[red]x`` prints literally
instead of being read as markup. JSON keys are part of the CLI's contract: add keys, do not
rename them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

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
