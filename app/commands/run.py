"""``taxireg run``: the bots and the scheduler (the only command that imports bot frameworks)."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="serve every configured bot, the web pages and APIs, and the scheduler",
        description="Migrate the database, then run every park's bots, the [web] section "
        "and the scheduler until SIGINT/SIGTERM.",
    )
    parser.add_argument(
        "--no-web",
        action="store_true",
        help="do not serve the [web] section (landing page, APIs, metrics) in this process",
    )
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.runner import run

    await run(ctx.settings, web=not args.no_web)
    return 0
