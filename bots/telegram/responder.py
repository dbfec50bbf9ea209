"""One update in, one core call, the fewest messages out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot
from aiogram.types import User

from bots.telegram.incoming import incoming
from bots.telegram.render import Outgoing, render_answer
from bots.telegram.sender import Sender
from core.events import Event
from core.replies import Reply
from core.texts.catalog import Catalog

if TYPE_CHECKING:
    from core.services.registration import RegistrationService


class Responder:
    def __init__(self, registration: RegistrationService, sender: Sender) -> None:
        self.registration = registration
        self.catalog: Catalog = registration.catalog
        self.sender = sender

    async def handle(
        self, bot: Bot, park: str, user: User, chat_id: int, event: Event, update_id: int
    ) -> None:
        answer = await self.registration.handle(incoming(park, user, event, update_id))
        messages = render_answer(answer, self.catalog)
        if messages:  # nothing for a repeated delivery of an update already answered
            await self.sender.send(bot, chat_id, messages, park=park)

    async def say(
        self, bot: Bot, park: str, chat_id: int, key: str, language_code: str | None
    ) -> None:
        """A catalog text outside the flow (group chats, errors): no state, no keyboard."""
        lang = self.catalog.pick(language_code)
        text = self.catalog.render(Reply(key), lang).text
        await self.sender.send(bot, chat_id, [Outgoing(text)], park=park)
