"""Group chats: registration is personal, so the bot only points to the private chat."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.types import Message

from bots.telegram.filters import ChatTypeIs, HasText
from bots.telegram.responder import Responder


def make_router() -> Router:
    router = Router(name="groups")
    router.message.register(
        on_group_message, ChatTypeIs(ChatType.GROUP, ChatType.SUPERGROUP), HasText()
    )
    # Channel posts have no handler: aiogram leaves them unhandled and nothing is sent.
    return router


async def on_group_message(message: Message, bot: Bot, park: str, responder: Responder) -> None:
    if not await _addressed_to_bot(message, bot):
        # Without privacy mode a bot sees all group chatter; answering it would be spam.
        return
    language = message.from_user.language_code if message.from_user else None
    await responder.say(bot, park, message.chat.id, "private-only", language)


async def _addressed_to_bot(message: Message, bot: Bot) -> bool:
    text = message.text or ""
    if text.startswith("/"):
        return True
    me = await bot.me()  # cached since start-up
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
        return True
    return bool(me.username) and f"@{me.username}".lower() in text.lower()
