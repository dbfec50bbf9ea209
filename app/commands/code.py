"""``taxireg code activate|deactivate CODE``: switch a referral code on or off."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("code", help="activate or deactivate a referral code")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="code_command", metavar="SUBCOMMAND")
    for name, active, text in (
        ("deactivate", False, "refuse the code from now on (registrations keep it)"),
        ("activate", True, "accept a deactivated code again"),
    ):
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("code", metavar="CODE")
        sub.set_defaults(handler=handler, active=active)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from core.domain.codes import normalize_code
    from core.domain.errors import DomainError

    container = await ctx.container()
    if not await container.admin.set_code_active(args.code, args.active):
        raise DomainError(f"no such referral code: {args.code[:40]!r}")
    code = normalize_code(args.code) or args.code
    print(f"code {code} {'activated' if args.active else 'deactivated'}")
    return 0
