"""Private chats: every message goes to core, whatever it holds."""

from __future__ import annotations

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.types import Message, Update

from bots.telegram.filters import ChatTypeIs
from bots.telegram.incoming import event_for_message
from bots.telegram.responder import Responder


def make_router() -> Router:
    router = Router(name="private")
    # One handler instead of one per content type: the mapping to core events is a pure
    # function (bots.telegram.incoming), and core decides what each event means per step,
    # including the hint for stickers, photos, voice and locations.
    router.message.register(on_message, ChatTypeIs(ChatType.PRIVATE))
    return router


async def on_message(
    message: Message, bot: Bot, park: str, responder: Responder, event_update: Update
) -> None:
    if message.from_user is None:  # not possible in a private chat; keeps the types honest
        return
    event = event_for_message(message)
    await responder.handle(
        bot, park, message.from_user, message.chat.id, event, event_update.update_id
    )
