"""The last line: an unexpected exception is logged for us and a short apology goes to the
user, never a traceback."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.enums import ChatType
from aiogram.types import Chat, ErrorEvent, User

from bots.common.failures import log_failure
from bots.telegram.responder import Responder
from core.domain.phones import mask_phone

log = logging.getLogger("taxireg.telegram")


async def on_error(
    event: ErrorEvent,
    bot: Bot,
    responder: Responder,
    park: str | None = None,
    event_chat: Chat | None = None,
    event_from_user: User | None = None,
) -> None:
    update = event.update
    contact = update.message.contact if update.message else None
    log_failure(
        log,
        "update failed",
        exc=event.exception,
        extra={
            "park": park or "-",
            "update_id": update.update_id,
            "kind": update.event_type,
            "phone": mask_phone(contact.phone_number if contact else None),
        },
    )
    if park is None or event_chat is None or event_chat.type != ChatType.PRIVATE:
        return
    language = event_from_user.language_code if event_from_user else None
    try:
        await responder.say(bot, park, event_chat.id, "try-later", language)
    except Exception:  # the apology is best effort; the error is already logged
        log.warning("could not tell the user to try later", extra={"park": park})
