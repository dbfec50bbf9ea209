"""``taxireg config show``: the effective settings, secrets masked."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="inspect the configuration")
    parser.set_defaults(help_parser=parser)
    commands = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    show = commands.add_parser(
        "show",
        help="print the effective settings as JSON (tokens and passwords masked)",
        description="File, environment overrides and defaults merged, as the app sees them.",
    )
    show.add_argument("--json", action="store_true", help="accepted for symmetry; always JSON")
    show.set_defaults(handler=show_handler)


async def show_handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json

    emit_json(ctx.settings.redacted_dict())
    return 0
