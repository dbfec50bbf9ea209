"""``taxireg ledger show PHONE --park SLUG`` and ``taxireg ledger export --park SLUG --month``.

``show`` prints what «Мои бонусы» shows a driver or partner; ``export`` writes a park's
ledger rows of one month as CSV for the accountant (reversals included, as negative rows
pointing at what they reverse).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from datetime import datetime

    from core.domain.bonus import PostedAccrual
    from core.services.ledger import LedgerService, Statement

EXPORT_COLUMNS = (
    "entry_id",
    "order_id",
    "completed_at",
    "beneficiary_kind",
    "beneficiary_id",
    "referred_driver_id",
    "level",
    "rule_version",
    "amount_kopecks",
    "reversal_of",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ledger", help="bonus balances and the monthly export")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND")

    show = commands.add_parser(
        "show",
        help="balance, this month and the last accruals of a driver or partner",
        description="Show the bonus balance of the park's driver and/or partner with PHONE.",
    )
    show.add_argument("phone", metavar="PHONE")
    show.add_argument("--park", required=True, metavar="SLUG")
    show.add_argument("--last", type=int, default=10, metavar="N", help="rows to show (10)")
    add_json_flag(show)
    show.set_defaults(handler=show_handler)

    export = commands.add_parser(
        "export",
        help="a park's ledger rows of one month as CSV",
        description="Write every ledger row of the park's month (its time zone) as CSV.",
    )
    export.add_argument("--park", required=True, metavar="SLUG")
    export.add_argument("--month", required=True, metavar="YYYY-MM")
    export.add_argument("--output", type=Path, metavar="FILE", help="default: stdout")
    export.set_defaults(handler=export_handler)


def statement_json(statement: Statement) -> dict[str, Any]:
    balance = statement.balance
    return {
        "owner_kind": statement.owner.kind.value,
        "owner_id": statement.owner.id,
        "accrued_kopecks": balance.accrued,
        "reserved_kopecks": balance.reserved,
        "paid_kopecks": balance.paid,
        "available_kopecks": balance.available,
        "month": statement.month,
        "month_kopecks": statement.month_kopecks,
        "referrals": statement.referrals,
        "recent": [
            {
                "entry_id": entry.id,
                "order_id": entry.accrual.order_external_id,
                "level": entry.accrual.level,
                "amount_kopecks": entry.accrual.amount_kopecks,
                "reversal_of": entry.accrual.reversal_of,
            }
            for entry in statement.recent
        ],
    }


async def show_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, fields, table
    from core.domain.errors import DomainError, InvalidPhoneError, UnknownPark
    from core.domain.money import format_roubles
    from core.domain.phones import InvalidPhone, mask_phone, normalize_phone

    container = await ctx.container()
    park = container.parks.get(args.park)
    if park is None:
        raise UnknownPark(args.park)
    try:
        phone = normalize_phone(args.phone, park.phone_region)
    except InvalidPhone:
        raise InvalidPhoneError(args.phone, park.phone_region) from None
    service = _ledger(container)
    owners = await service.owners(park.slug, phone)
    if not owners:
        raise DomainError(f"no driver or partner with phone {mask_phone(phone)} in {park.slug}")
    last = max(1, min(args.last, 100))
    statements = [await service.statement(park.slug, owner, recent=last) for owner in owners]
    if args.json:
        emit_json([statement_json(s) for s in statements])
        return 0
    for s in statements:
        fields(
            f"{s.owner.kind} {s.owner.id} ({mask_phone(phone)}) in {park.slug}",
            [
                ("available", format_roubles(s.balance.available)),
                ("accrued", format_roubles(s.balance.accrued)),
                ("in payout requests", format_roubles(s.balance.reserved)),
                ("paid out", format_roubles(s.balance.paid)),
                (f"this month ({s.month})", format_roubles(s.month_kopecks)),
                ("referrals", s.referrals),
            ],
        )
        table(
            "last accruals",
            ["entry", "order", "level", "amount", "reverses"],
            [
                (
                    e.id,
                    e.accrual.order_external_id,
                    e.accrual.level,
                    format_roubles(e.accrual.amount_kopecks),
                    e.accrual.reversal_of,
                )
                for e in s.recent
            ],
        )
    return 0


def write_export(rows: list[tuple[PostedAccrual, datetime]], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for entry, completed_at in rows:
        row = entry.accrual
        writer.writerow(
            [
                entry.id,
                _cell(row.order_external_id),
                completed_at.isoformat(),
                row.beneficiary.kind.value,
                row.beneficiary.id,
                row.referred_driver_id,
                row.level,
                row.rule_version,
                row.amount_kopecks,
                row.reversal_of if row.reversal_of is not None else "",
            ]
        )


def _cell(value: str) -> str:
    # An order id from a fleet system opens in a spreadsheet: one that starts like a formula
    # is quoted so it stays text.
    return "'" + value if value.startswith(_FORMULA_START) else value


async def export_handler(args: argparse.Namespace, ctx: Context) -> int:
    from core.domain.errors import DomainError

    container = await ctx.container()
    service = _ledger(container)
    rows = await service.month_entries(args.park, args.month)
    if args.output is None:
        write_export(rows, sys.stdout)
        return 0
    try:
        with args.output.open("w", newline="", encoding="utf-8") as out:
            write_export(rows, out)
    except OSError as exc:
        raise DomainError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    print(f"{len(rows)} ledger rows of {args.park} {args.month} written to {args.output}")
    return 0


def _ledger(container: Any) -> LedgerService:
    from core.domain.errors import DomainError

    service = getattr(container, "ledger", None)
    if service is None:  # the composition root wires it (app.bootstrap)
        raise DomainError("the bonus ledger is not set up in this build")
    return service
