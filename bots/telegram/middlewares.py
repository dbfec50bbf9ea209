"""Outer middlewares: which park an update is for, and one user's updates in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.types import TelegramObject, User

log = logging.getLogger("taxireg.telegram")

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class ParkMiddleware(BaseMiddleware):
    """Puts ``park`` (the slug) into handler data, from the bot that received the update.

    Independent of how updates arrive: polling and a webhook both hand the bot over.
    """

    def __init__(self, parks_by_bot: Mapping[int, str]) -> None:
        self._parks = parks_by_bot  # live view: the front end fills it as bots start

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        bot: Bot = data["bot"]
        park = self._parks.get(bot.id)
        if park is None:
            log.error("update for a bot of no configured park dropped", extra={"bot_id": bot.id})
            return None
        data["park"] = park
        return await handler(event, data)


class _Slot:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class PerUserOrder(BaseMiddleware):
    """Handles one user's updates of one bot one after another, in arrival order.

    aiogram runs each update as its own task, so two quick messages could otherwise be
    decided in either order (core would not corrupt state, but "contact, then code" could
    be read as "code, then contact"). Tasks start in update order and reach this lock
    without awaiting anything first, and asyncio.Lock wakes waiters first-in first-out.
    Locks live only while someone holds or waits for them, so the map stays small.
    """

    def __init__(self) -> None:
        self._slots: dict[tuple[int, int], _Slot] = {}

    def __len__(self) -> int:
        return len(self._slots)

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        user: User | None = data.get("event_from_user")
        if user is None:  # channel posts and the like: nobody to keep in order
            return await handler(event, data)
        key = (data["bot"].id, user.id)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        slot.users += 1
        try:
            async with slot.lock:
                return await handler(event, data)
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]
