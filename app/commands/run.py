"""``taxireg run``: the bots and the scheduler (the only command that imports bot frameworks)."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "run",
        help="serve every configured Telegram and VK bot and the notification scheduler",
        description="Migrate the database, then run every park's bots and the scheduler "
        "until SIGINT/SIGTERM.",
    )
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.runner import run

    await run(ctx.settings)
    return 0
