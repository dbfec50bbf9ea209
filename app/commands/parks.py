"""``taxireg parks``: the parks as configured and as stored (tokens only as set/missing)."""

from __future__ import annotations

import argparse
from typing import Any

from app.commands.context import Context
from app.commands.output import add_json_flag


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "parks",
        help="list the parks (synced from the config into the database)",
        description="Sync the parks from the config into the database and list them. "
        "Tokens are never shown, only whether they are set.",
    )
    add_json_flag(parser)
    parser.set_defaults(handler=handler)


def _token(value: object) -> str:
    return "set" if value is not None else "missing"


async def handler(args: argparse.Namespace, ctx: Context) -> int:
    from app.commands.output import emit_json, table

    container = await ctx.container()
    configured = {p.slug: p for p in container.settings.parks}
    stored = await container.db.read(lambda uow: uow.parks.list())
    rows = []
    for park in stored:
        conf = configured.get(park.slug)
        rows.append(
            {
                "slug": park.slug,
                "name": park.name,
                "in_config": conf is not None,
                "telegram_bot": park.telegram_username,
                "telegram_token": _token(conf.telegram_token) if conf else "missing",
                "vk_group_id": park.vk_group_id,
                "vk_screen_name": park.vk_screen_name,
                "vk_token": _token(conf.vk_token) if conf else "missing",
                "landing_url": park.landing_url,
                "phone_region": park.phone_region,
                "timezone": park.timezone,
            }
        )
    if args.json:
        emit_json(rows)
        return 0
    if not rows:
        print("no parks: add [[parks]] to the config (see config.example.toml)")
        return 0
    table(
        "Parks",
        ("slug", "name", "telegram bot", "vk group", "landing url", "region", "tz"),
        (
            (
                r["slug"] + ("" if r["in_config"] else " (not in config)"),
                r["name"],
                f"@{r['telegram_bot']} (token: {r['telegram_token']})"
                if r["telegram_bot"]
                else "-",
                f"{r['vk_screen_name'] or r['vk_group_id']} (token: {r['vk_token']})"
                if r["vk_group_id"]
                else "-",
                r["landing_url"],
                r["phone_region"],
                r["timezone"],
            )
            for r in rows
        ),
    )
    return 0
