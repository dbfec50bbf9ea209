"""``taxireg demo``: try the registration flow in the terminal, no configuration needed."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="chat with a demo park's registration bot in the terminal (no config needed)",
        description="Start two demo parks with a partner each in a fresh SQLite database and "
        "chat with the first park's bot as a driver. Reads stdin until EOF or /quit; works "
        "with a pipe. The config file is ignored.",
    )
    parser.add_argument(
        "--data-dir", metavar="DIR", help="keep the demo database here (default: a temp dir)"
    )
    parser.add_argument("--park", metavar="SLUG", help="start in this park's bot")
    parser.add_argument("--verbose", action="store_true", help="show INFO logs on stderr")
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.demo import run_demo

    return await run_demo(args.data_dir, args.park, args.verbose)
