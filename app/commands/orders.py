"""``taxireg orders import FILE.csv --park SLUG``: a park's orders into the bonus ledger.

The file is read line by line (``app.commands.orders_csv``) and imported in batches of the
API's size, each batch one transaction. Bad lines are reported with their numbers and
reasons; the good ones are kept. Importing the same file again changes nothing. Exit status
1 if any line was refused (the rest is imported all the same), else 0.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from core.services.ledger import LedgerService

_MAX_FILE = 200 * 1024 * 1024  # bytes; a fleet export of a month is a few megabytes


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("orders", help="import a park's orders for bonuses")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="orders_command", metavar="SUBCOMMAND")
    imp = commands.add_parser(
        "import",
        help="import orders from a CSV file",
        description="Import a park's orders from CSV (columns: order_id, completed_at, "
        "price_kopecks, status, driver_id or driver_phone). Bad lines are reported with "
        "their numbers; the good ones are kept. Re-importing a file changes nothing.",
    )
    imp.add_argument("file", metavar="FILE.csv", type=Path)
    imp.add_argument("--park", required=True, metavar="SLUG")
    add_json_flag(imp)
    imp.set_defaults(handler=import_handler)


@dataclass
class FileReport:
    lines: int = 0
    accepted: int = 0
    arrived_cancelled: int = 0
    reversed: int = 0
    unchanged: int = 0
    entries: int = 0
    accrued_kopecks: int = 0
    reversed_kopecks: int = 0
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # line, order, why

    def as_json(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "accepted": self.accepted,
            "arrived_cancelled": self.arrived_cancelled,
            "reversed": self.reversed,
            "unchanged": self.unchanged,
            "ledger_rows": self.entries,
            "accrued_kopecks": self.accrued_kopecks,
            "reversed_kopecks": self.reversed_kopecks,
            "refused": [
                {"line": line, "order_id": order, "reason": reason}
                for line, order, reason in self.problems
            ],
        }


async def import_file(
    service: LedgerService,
    park: str,
    data: bytes,
    zone: tzinfo,
    *,
    advance: Callable[[int], None] | None = None,
) -> FileReport:
    """Import the file's orders; ``advance(n)`` is told after each batch of n lines."""
    from app.commands.orders_csv import read_orders
    from core.services.ledger import FILE_BATCH

    report = FileReport()
    batch: list[Any] = []

    async def flush() -> None:
        if not batch:
            return
        result = await service.import_orders(park, [line.order for line in batch])
        report.accepted += result.accepted
        report.arrived_cancelled += result.arrived_cancelled
        report.reversed += result.reversed
        report.unchanged += result.unchanged
        report.entries += result.entries
        report.accrued_kopecks += result.accrued_kopecks
        report.reversed_kopecks += result.reversed_kopecks
        for problem in [*result.invalid, *result.unknown_drivers]:
            report.problems.append(
                (batch[problem.index].number, problem.external_id, problem.reason)
            )
        if advance is not None:
            advance(len(batch))
        batch.clear()

    for line in read_orders(data, zone):
        report.lines += 1
        if line.order is None:
            report.problems.append((line.number, "", line.reason or "unreadable"))
            continue
        batch.append(line)
        if len(batch) >= FILE_BATCH:
            await flush()
    await flush()
    report.problems.sort()
    return report


async def import_handler(args: argparse.Namespace, ctx: Context) -> int:
    from zoneinfo import ZoneInfo

    from rich.progress import Progress

    from app.commands.orders_csv import OrdersFileError
    from app.commands.output import emit_json, table
    from core.domain.errors import DomainError, UnknownPark
    from core.domain.money import format_roubles

    try:
        size = args.file.stat().st_size
        if size > _MAX_FILE:
            raise DomainError(f"{args.file} is larger than {_MAX_FILE // 2**20} MB")
        data = args.file.read_bytes()
    except OSError as exc:
        raise DomainError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    container = await ctx.container()
    park = container.parks.get(args.park)
    if park is None:
        raise UnknownPark(args.park)
    service = _ledger(container)
    total = data.count(b"\n") or 1
    try:
        if args.json:
            report = await import_file(service, park.slug, data, ZoneInfo(park.timezone))
        else:
            with Progress(transient=True) as progress:
                task = progress.add_task(f"importing {args.file.name}", total=total)
                report = await import_file(
                    service,
                    park.slug,
                    data,
                    ZoneInfo(park.timezone),
                    advance=lambda n: progress.advance(task, n),
                )
    except OrdersFileError as exc:
        raise DomainError(f"{args.file}: {exc}") from None
    if args.json:
        emit_json(report.as_json())
    else:
        print(
            f"{report.accepted} orders accepted, {report.reversed} cancellations reversed, "
            f"{report.arrived_cancelled} arrived cancelled, {report.unchanged} already known; "
            f"{report.entries} ledger rows: +{format_roubles(report.accrued_kopecks)} "
            f"-{format_roubles(report.reversed_kopecks)}"
        )
        if report.problems:
            table(
                f"{len(report.problems)} lines refused (the other lines were imported)",
                ["line", "order", "reason"],
                report.problems,
            )
    return 1 if report.problems else 0


def _ledger(container: Any) -> LedgerService:
    from core.domain.errors import DomainError

    service = getattr(container, "ledger", None)
    if service is None:  # the composition root wires it (app.bootstrap)
        raise DomainError("the bonus ledger is not set up in this build")
    return service
