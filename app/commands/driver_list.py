"""``taxireg driver list``: a park's drivers, or its unfinished registrations, streamed.

Rows are read a page at a time by id (``AdminService.driver_pages``) and printed as they
come, as a table, ``--csv`` or ``--json``: a million drivers never sit in memory, and the
first rows appear before the last are read.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from datetime import UTC, tzinfo
from typing import Any

from app.commands.context import Context
from app.commands.output import add_format_flags


def register_list(commands: Any) -> None:
    listing = commands.add_parser(
        "list",
        help="list drivers or unfinished registrations (streamed)",
        description="List registered drivers (default) or registrations started and not "
        "finished (--unfinished), oldest first. Dates are days in the park's time zone "
        "(UTC without --park), or ISO date-times; --until is exclusive for a date-time and "
        "inclusive for a day.",
    )
    listing.add_argument("--park", metavar="SLUG")
    listing.add_argument("--since", metavar="DATE", help="from this day (or date-time) on")
    listing.add_argument("--until", metavar="DATE", help="up to this day (or date-time)")
    listing.add_argument("--code", metavar="CODE", help="the referral code entered (or linked)")
    listing.add_argument("--source", metavar="SOURCE", help="deep_link, typed or none")
    listing.add_argument("--channel", metavar="CHANNEL", help="telegram, vk, terminal or app")
    stage = listing.add_mutually_exclusive_group()
    stage.add_argument(
        "--registered",
        dest="stage",
        action="store_const",
        const="registered",
        help="registered drivers (the default)",
    )
    stage.add_argument(
        "--unfinished",
        dest="stage",
        action="store_const",
        const="unfinished",
        help="registrations started and not finished",
    )
    listing.set_defaults(stage="registered")
    add_format_flags(listing)
    listing.set_defaults(handler=list_handler)


def build_filter(args: argparse.Namespace, zone: tzinfo) -> Any:
    from core.domain.codes import normalize_code
    from core.domain.errors import DomainError
    from core.domain.model import Channel, Source
    from core.domain.operators import DriverFilter
    from core.services.admin import moment

    def choice(kind: type[Any], raw: str | None, what: str) -> Any:
        if raw is None:
            return None
        try:
            return kind(raw.strip().lower())
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise DomainError(f"{what} must be one of {allowed}, not {raw[:40]!r}") from None

    code = None
    if args.code is not None:
        code = normalize_code(args.code)
        if code is None:
            raise DomainError(f"not a referral code: {args.code[:40]!r}")
    where = DriverFilter(
        park=args.park,
        since=moment(args.since, zone),
        until=moment(args.until, zone, end=True),
        code=code,
        source=choice(Source, args.source, "--source"),
        channel=choice(Channel, args.channel, "--channel"),
    )
    if where.since and where.until and where.until <= where.since:
        raise DomainError("--until must be after --since")
    return where


async def list_handler(args: argparse.Namespace, ctx: Context) -> int:
    from zoneinfo import ZoneInfo

    from app.commands.output import stream
    from core.domain.operators import (
        DRIVER_COLUMNS,
        UNFINISHED_COLUMNS,
        driver_record,
        unfinished_record,
    )
    from core.services.parks import require_park

    admin = await ctx.admin()
    zone: tzinfo = UTC
    if args.park is not None:
        zone = ZoneInfo(require_park(admin.parks, args.park).timezone)
    where = build_filter(args, zone)

    async def pages() -> AsyncIterator[list[dict[str, Any]]]:
        if args.stage == "unfinished":
            async for page in admin.unfinished_pages(where):
                yield [unfinished_record(c) for c in page]
        else:
            async for page in admin.driver_pages(where):
                yield [driver_record(d) for d in page]

    if args.stage == "unfinished":
        await stream(args.format, "Unfinished registrations", UNFINISHED_COLUMNS, pages())
    else:
        await stream(args.format, "Drivers", DRIVER_COLUMNS, pages())
    return 0
