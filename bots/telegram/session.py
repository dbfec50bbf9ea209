"""The HTTP session every park's bot shares (as aiogram's multibot example does)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientSession

# Response[T] for every result type T this process has read, held for its whole life.
# aiogram's check_response asks pydantic for Response[method.__returning__] on every
# reply; pydantic caches parametrised models in a WeakValueDictionary and nothing else
# holds them, so each garbage collection drops them and the next reply rebuilds the class
# (ModelMetaclass.__new__ via create_generic_submodel, with a new validator): about 4 % of
# taxireg run's busy CPU under load, measured with py-spy (bench.telegram_registrations).
# With a strong reference here pydantic's own cache keeps answering with the same class.
# Bounded: one entry per result type of the Bot API methods used.
_RESPONSE_TYPES: dict[Any, type[Response[Any]]] = {}


def keep_response_type(returning: Any) -> type[Response[Any]]:
    """Response[``returning``], built at most once per process."""
    kept = _RESPONSE_TYPES.get(returning)
    if kept is None:
        kept = _RESPONSE_TYPES[returning] = Response[returning]
    return kept


class SharedSession(AiohttpSession):
    """aiogram's AiohttpSession; ``close()`` skips the 250 ms wait over plain HTTP, and the
    response models are built once (see ``_RESPONSE_TYPES``).

    aiogram sleeps in ``close()`` to let SSL connections shut down. A self-hosted Bot API
    server on ``http://`` (and the tests' fake) has none, so stopping need not wait.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The aiohttp session aiogram made, as create_session() returned it: closing it
        # ourselves needs no private attribute of aiogram's.
        self._client: ClientSession | None = None

    async def create_session(self) -> ClientSession:
        self._client = await super().create_session()
        return self._client

    def check_response(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        status_code: int,
        content: str,
    ) -> Response[TelegramType]:
        keep_response_type(method.__returning__)
        return super().check_response(bot, method, status_code, content)

    async def close(self) -> None:
        if self.api.base.startswith("https://"):
            await super().close()
            return
        client, self._client = self._client, None
        if client is not None and not client.closed:
            await client.close()


def make_session(api_server: str | None) -> SharedSession:
    """``api_server`` is ``[telegram] api_server``: a self-hosted Bot API base URL or None."""
    if api_server is None:
        return SharedSession()
    return SharedSession(api=TelegramAPIServer.from_base(api_server))
