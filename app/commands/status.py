"""``taxireg status``: is the database current, and what is in it, per park."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context
from app.commands.output import add_json_flag


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="database, schema revision and counts per park and per outbox status",
        description="Read-only: does not migrate. Shows the schema revision against the "
        "newest one, drivers, partners and conversations per park, and the outbox.",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=handler)


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.clock import SystemClock
    from app.commands.output import emit_json, fields, table
    from storage import revision, stats
    from storage.database import SqlDatabase

    settings = ctx.settings
    if settings.database.url is None:
        settings.ensure_data_dir()
    db = SqlDatabase(settings.database_url, SystemClock())
    try:
        current = await db.run_on_connection(revision.current, readonly=True)
        # An empty database has no tables to count; say so instead of failing.
        counts = None
        if current is not None:
            counts = await db.run_on_connection(stats.collect, readonly=True)
    finally:
        await db.dispose()
    head = revision.head()
    names = {p.slug: p.name for p in settings.parks}
    slugs = list(names) + sorted(set(counts.parks if counts else ()) - set(names))
    parks = []
    for slug in slugs:
        c = counts.parks.get(slug) if counts else None
        parks.append(
            {
                "slug": slug,
                "name": names.get(slug),
                "in_config": slug in names,
                "drivers": c.drivers if c else 0,
                "partners": c.partners if c else 0,
                "partners_linked": c.partners_linked if c else 0,
                "partners_unreachable": c.partners_unreachable if c else 0,
                "conversations": dict(c.conversations) if c else {},
                "reminded": c.reminded if c else 0,
                "reminded_then_registered": c.reminded_registered if c else 0,
            }
        )
    data = {
        "database_url": settings.redacted_dict()["database_url"],
        "revision": {"current": current, "head": head, "up_to_date": current == head},
        "parks": parks,
        "outbox": dict(counts.outbox) if counts else {},
    }
    if args.json:
        emit_json(data)
        return 0
    state = "up to date" if current == head else "behind: run `taxireg migrate`"
    if current is None:
        state = "empty database: run `taxireg migrate`"
    fields(
        "taxireg status",
        (
            ("database", data["database_url"]),
            ("schema revision", f"{current or '-'} (head {head}, {state})"),
            ("outbox", ", ".join(f"{k}: {v}" for k, v in data["outbox"].items()) or "empty"),
        ),
    )
    table(
        "Parks",
        (
            "park",
            "drivers",
            "partners",
            "linked to Telegram",
            "unreachable",
            "conversations",
            "reminded (then registered)",
        ),
        (
            (
                p["slug"] + ("" if p["in_config"] else " (not in config)"),
                p["drivers"],
                p["partners"],
                p["partners_linked"],
                p["partners_unreachable"],
                ", ".join(f"{k}: {v}" for k, v in p["conversations"].items()) or "-",
                f"{p['reminded']} ({p['reminded_then_registered']})",
            )
            for p in parks
        ),
    )
    return 0
