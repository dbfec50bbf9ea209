"""Filters as coroutines.

aiogram runs a synchronous filter, magic filters included, through ``asyncio.to_thread``: a
thread hop per filter per update. These are the same checks as ``F.chat.type == ...`` and
``F.text``, written as ``async`` so they run in the loop.
"""

from __future__ import annotations

from aiogram.enums import ChatType
from aiogram.filters import Filter
from aiogram.types import Message


class ChatTypeIs(Filter):
    def __init__(self, *types: ChatType) -> None:
        self.types = frozenset(types)

    async def __call__(self, message: Message) -> bool:
        return message.chat.type in self.types


class HasText(Filter):
    async def __call__(self, message: Message) -> bool:
        return message.text is not None
