"""The HTTP session every park's bot shares (as aiogram's multibot example does)."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import urlencode

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiohttp import ClientError, ClientSession

_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}

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

    def form_fields(self, bot: Bot, method: TelegramMethod[Any]) -> list[tuple[str, str]] | None:
        """The request's form fields exactly as aiogram's ``build_form_data`` writes them, or
        None when the request carries files (then aiogram's own multipart path is taken).

        aiogram dumps the method with every unset field as None, then walks every value in
        Python (``prepare_value``) to drop the Nones and JSON-encode nested objects: for a
        message with a keyboard that walk cost more than the rest of sending it (py-spy).
        Here pydantic drops the Nones while dumping and a nested value goes to JSON in one
        call; a value JSON cannot hold as is (a file, a date, an unresolved default) or that
        still holds a None takes aiogram's walk, so the text sent is the same.
        """
        files: dict[str, Any] = {}
        fields: list[tuple[str, str]] = []
        for key, value in method.model_dump(warnings=False, exclude_none=True).items():
            prepared = None
            if isinstance(value, dict | list):
                try:
                    prepared = self.json_dumps(value)
                except TypeError:
                    prepared = None
                if prepared is not None and "null" in prepared:
                    prepared = None  # a None inside: aiogram drops it, so let aiogram do it
            if prepared is None:
                prepared = self.prepare_value(value, bot=bot, files=files)
            if prepared:  # aiogram leaves out empty and false values too
                fields.append((key, prepared))
        return None if files else fields

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        """aiogram's ``make_request`` with the form encoded by ``form_fields``: a request
        without files is one urlencoded body, as aiohttp's FormData would make it, without
        building a FormData (whose multipart writer draws a random boundary every time)."""
        fields = self.form_fields(bot, method)
        if fields is None:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        body = urlencode(fields, encoding="utf-8").encode()
        try:
            async with session.post(
                url,
                data=body,
                headers=_FORM_HEADERS,
                timeout=self.timeout if timeout is None else timeout,
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)

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
