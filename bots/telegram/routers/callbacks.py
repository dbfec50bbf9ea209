"""Callback queries. The bot sends no callback buttons, so any press is from an old
keyboard (an earlier version, a forwarded message): stop the spinner, show the current step.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Update

from bots.telegram.responder import Responder
from bots.telegram.sender import describe
from core.events import Unsupported
from core.services.registration import STALE_BUTTON

log = logging.getLogger("taxireg.telegram")


def make_router() -> Router:
    router = Router(name="callbacks")
    router.callback_query.register(on_callback)
    return router


async def on_callback(
    query: CallbackQuery, bot: Bot, park: str, responder: Responder, event_update: Update
) -> None:
    try:
        await query.answer()
    except TelegramAPIError as exc:  # "query is too old": the press is still worth a hint
        log.info("callback query not answered", extra={"park": park, "error": describe(exc, bot)})
    message = query.message
    if message is None or message.chat.type != ChatType.PRIVATE:
        return
    await responder.handle(
        bot,
        park,
        query.from_user,
        message.chat.id,
        Unsupported(STALE_BUTTON),
        event_update.update_id,
    )
