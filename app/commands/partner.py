"""``taxireg partner add|list|import|export``: the partner directory of each park.

``import`` reads a CSV file (``core.domain.csv_records``, through the admin service that the
admin API's import uses too): columns ``name`` and ``phone``,
optional ``code`` (a code the partner already hands out; it must be free in every park)
and ``alerts`` (``instant`` or ``digest``). It is idempotent by phone: a phone the park
already has is left as it is, so importing a file again changes nothing. ``export`` writes
the same columns first, streamed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_format_flags, add_json_flag

if TYPE_CHECKING:
    from core.domain.model import Partner
    from core.domain.operators import PartnerImport

_MAX_FILE = 200 * 1024 * 1024  # bytes: a million partners is about 60 MB


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("partner", help="add and list referral partners")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="partner_command", metavar="SUBCOMMAND")

    add = commands.add_parser(
        "add",
        help="add a partner to a park and issue their referral code",
        description="Add a partner (by phone) to a park's directory. The new code is printed "
        "alone on the last line, for scripts.",
    )
    add.add_argument("--park", required=True, metavar="SLUG")
    add.add_argument("--phone", required=True, metavar="PHONE")
    add.add_argument("--name", metavar="NAME")
    add_json_flag(add)
    add.set_defaults(handler=add_handler)

    listing = commands.add_parser("list", help="list partners", description="List partners.")
    listing.add_argument("--park", metavar="SLUG", help="only this park")
    add_json_flag(listing)
    listing.set_defaults(handler=list_handler)

    imp = commands.add_parser(
        "import",
        help="add partners from a CSV file (name, phone, optional code and alerts)",
        description="Add partners to a park from CSV with a header naming the columns: "
        "phone and name, optional code (checked against every park's codes) and alerts "
        "(instant or digest). Bad lines are reported with their numbers and reasons; the "
        "good ones are kept. A phone the park already has is left as it is, so importing "
        "the same file again changes nothing. Exit status 1 if any line was refused.",
    )
    imp.add_argument("file", metavar="FILE.csv", type=Path)
    imp.add_argument("--park", required=True, metavar="SLUG")
    add_json_flag(imp)
    imp.set_defaults(handler=import_handler)

    export = commands.add_parser(
        "export",
        help="print every partner (streamed), as CSV by default",
        description="Print partners a page at a time: CSV (default; its first columns are "
        "the ones import reads), --json, or --table.",
    )
    export.add_argument("--park", metavar="SLUG", help="only this park")
    add_format_flags(export)
    export.add_argument(
        "--table", dest="format", action="store_const", const="table", help="print a table"
    )
    export.set_defaults(format="csv", handler=export_handler)

    referrals = commands.add_parser(
        "referrals",
        help="the drivers a partner referred, as the partner's cabinet shows them",
        description="The drivers registered with a partner's code, newest first, as the "
        "partner sees them in their cabinet: first name and masked phone, «удалён» for a "
        "driver whose personal data was erased; a table, --csv or --json, streamed a page at "
        "a time. PHONE_OR_CODE is the partner's phone or "
        "referral code; --park picks the park when the phone is a partner in several.",
    )
    referrals.add_argument("who", metavar="PHONE_OR_CODE")
    referrals.add_argument("--park", metavar="SLUG")
    add_format_flags(referrals)
    referrals.set_defaults(handler=referrals_handler)

    from app.commands.notifications import register_partner_settings  # alert settings

    register_partner_settings(commands)
    from app.commands.links import register_partner_links  # every link of a code

    register_partner_links(commands)


def partner_json(partner: Partner) -> dict[str, Any]:
    return {
        "id": partner.id,
        "park": partner.park,
        "name": partner.name,
        "phone": partner.phone,
        "code": partner.code,
        "telegram_linked": partner.telegram_chat_id is not None,
        "unreachable": partner.unreachable,
        "alerts": partner.alerts,
        "quiet_from": partner.quiet_from,
        "quiet_to": partner.quiet_to,
        "created_at": partner.created_at,
    }


def _telegram(partner: Partner) -> str:
    if partner.telegram_chat_id is None:
        return "not linked"
    return "unreachable" if partner.unreachable else "linked"


async def add_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    admin = await ctx.admin()
    partner = await admin.add_partner(args.park, args.phone, args.name)
    if args.json:
        emit_json(partner_json(partner))
        return 0
    park = admin.parks[partner.park]
    print(f"partner added to {park.slug} «{park.name}»: {partner.name or '-'} {partner.phone}")
    if park.telegram_link:
        print(f"alerts: the partner opens {park.telegram_link} and shares their phone")
    print("referral code:")
    print(partner.code)
    return 0


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table, when

    admin = await ctx.admin()
    partners = await admin.list_partners(args.park)
    if args.json:
        emit_json([partner_json(p) for p in partners])
        return 0
    if not partners:
        print("no partners" + (f" in park {args.park}" if args.park else ""))
        return 0
    table(
        "Partners",
        ("park", "name", "phone", "code", "telegram", "alerts", "added"),
        (
            (p.park, p.name, p.phone, p.code, _telegram(p), p.alerts, when(p.created_at))
            for p in partners
        ),
    )
    return 0


def import_json(report: PartnerImport) -> dict[str, Any]:
    return {
        "added": report.added,
        "existing": report.existing,
        "refused": [{"line": line, "reason": reason} for line, reason in report.refused],
    }


async def import_handler(args: argparse.Namespace, ctx: Context) -> int:
    from rich.progress import Progress

    from app.commands.output import emit_json, table
    from core.domain.csv_records import CsvFileError
    from core.domain.errors import DomainError

    try:
        if args.file.stat().st_size > _MAX_FILE:
            raise DomainError(f"{args.file} is larger than {_MAX_FILE // 2**20} MB")
        data = args.file.read_bytes()
    except OSError as exc:
        raise DomainError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    admin = await ctx.admin()
    try:
        if args.json:
            report = await admin.import_partner_csv(args.park, data)
        else:
            total = max(data.count(b"\n") - 1, 1)
            with Progress(transient=True) as progress:
                task = progress.add_task(f"importing {args.file.name}", total=total)
                report = await admin.import_partner_csv(
                    args.park, data, advance=lambda n: progress.advance(task, n)
                )
    except CsvFileError as exc:
        raise DomainError(f"{args.file}: {exc}") from None
    if args.json:
        emit_json(import_json(report))
    else:
        print(
            f"{report.added} partners added, {report.existing} already in park {args.park}, "
            f"{len(report.refused)} lines refused"
        )
        if report.refused:
            table(
                f"{len(report.refused)} lines refused (the other lines were imported)",
                ("line", "reason"),
                report.refused,
            )
    return 1 if report.refused else 0


async def export_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import stream
    from core.domain.operators import PARTNER_COLUMNS, partner_record

    admin = await ctx.admin()

    async def pages() -> Any:
        async for page in admin.partner_pages(args.park):
            yield [partner_record(p) for p in page]

    await stream(args.format, "Partners", PARTNER_COLUMNS, pages())
    return 0


REFERRAL_COLUMNS = (
    "id",
    "name",
    "phone",
    "erased",
    "channel",
    "source",
    "source_tag",
    "registered_at",
)


async def referrals_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import stream
    from core.texts import Catalog

    admin = await ctx.admin()
    partner = await admin.find_partner(args.who, args.park)
    catalog = Catalog()
    erased = catalog.text(catalog.default, "referral-erased")  # «удалён», as the cabinet says

    async def pages() -> Any:
        cursor = None
        while True:
            page = await admin.partner_referrals(partner, cursor)
            if not page.items:
                return
            yield [
                {
                    "id": r.id,
                    "name": erased if r.erased else r.first_name,
                    "phone": erased if r.erased else r.phone_masked,
                    "erased": r.erased,
                    "channel": r.channel.value,
                    "source": r.source,
                    "source_tag": r.source_tag,
                    "registered_at": r.registered_at,
                }
                for r in page.items
            ]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    title = f"Referrals of partner {partner.name or '-'} ({partner.code}, park {partner.park})"
    await stream(args.format, title, REFERRAL_COLUMNS, pages())
    return 0
