"""``taxireg partner add|list``: the partner directory of each park."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from app.commands.context import Context
from app.commands.output import add_json_flag

if TYPE_CHECKING:
    from core.domain.model import Partner


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

    container = await ctx.container()
    partner = await container.admin.add_partner(args.park, args.phone, args.name)
    if args.json:
        emit_json(partner_json(partner))
        return 0
    park = container.parks[partner.park]
    print(f"partner added to {park.slug} «{park.name}»: {partner.name or '-'} {partner.phone}")
    if park.telegram_link:
        print(f"alerts: the partner opens {park.telegram_link} and shares their phone")
    print("referral code:")
    print(partner.code)
    return 0


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table, when

    container = await ctx.container()
    partners = await container.admin.list_partners(args.park)
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
