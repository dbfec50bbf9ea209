"""The bot's command menu, in every catalog language (the default one without a code)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand

from core.texts.catalog import Catalog

COMMANDS = ("start", "code", "settings", "help")


def bot_commands(catalog: Catalog, lang: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=catalog.text(lang, f"cmd-{name}"))
        for name in COMMANDS
    ]


async def set_commands(bot: Bot, catalog: Catalog) -> None:
    await bot.set_my_commands(bot_commands(catalog, catalog.default))
    for lang in catalog.languages:
        if lang != catalog.default:
            await bot.set_my_commands(bot_commands(catalog, lang), language_code=lang)
