"""A fake Telegram Bot API server for driving real aiogram bots in tests.

Serves ``/bot{token}/{method}`` on 127.0.0.1, the URL shape that
``TelegramAPIServer.from_base(server.base_url)`` makes aiogram call, records every
request, lets tests push updates into a real long-polling ``getUpdates`` and inject faults.

How aiogram encodes requests (aiogram/client/session/aiohttp.py + base.py): every call is
a POST whose body is ``FormData`` (urlencoded, multipart only when a file is attached).
``str`` values go as-is; everything else (ints, bools, lists, dicts, keyboards) is
``json.dumps``-ed, and ``None`` fields are omitted. The server cannot tell ``"42"`` the
text from ``42`` the chat id, so it JSON-decodes every field except the known free-text
ones in ``_RAW_STRING_FIELDS``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import socket
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any, Self

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiohttp import web
from aiohttp.web_request import FileField

Params = dict[str, Any]

# Fields whose value is free text or a string id: never JSON-decoded, so a text "42" or
# a callback_query_id "1234" stays a str exactly as the bot sent it.
_RAW_STRING_FIELDS = frozenset(
    {
        "text", "caption", "callback_query_id", "inline_query_id", "inline_message_id",
        "query", "url", "description", "short_description", "name", "title", "parse_mode",
        "language_code", "business_connection_id", "message_effect_id", "secret_token",
        "emoji", "phone_number", "first_name", "last_name", "vcard", "address", "payload",
        "start_parameter", "currency", "question", "explanation",
    }
)  # fmt: skip

_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Recorded:
    """One API call as the fake saw it; ``status``/``result`` are filled once answered."""

    token: str
    method: str
    params: Params
    at: float  # time.monotonic() on arrival, for rate-limit assertions
    status: int | None = None
    result: Any = None


@dataclass(frozen=True)
class Fault:
    status: int | None
    description: str | None
    retry_after: int | None
    delay: float | None

    def body(self) -> dict[str, Any]:
        assert self.status is not None
        retry_after = self.retry_after if self.retry_after is not None else 1
        template = self.description or _DESCRIPTIONS.get(self.status, "Error")
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": template.format(retry_after=retry_after),
        }
        if self.status == 429:  # aiogram raises TelegramRetryAfter from these parameters
            body["parameters"] = {"retry_after": retry_after}
        return body


@dataclass
class _Queued:
    update: dict[str, Any]
    delivered: bool = False


@dataclass
class _BotState:
    token: str
    user: dict[str, Any]
    queue: list[_Queued] = field(default_factory=list)
    next_update_id: int = 1
    # Bumped by every getUpdates; an older long poll seeing a newer generation gets 409,
    # like Telegram does when two processes poll one token.
    poll_generation: int = 0
    commands: dict[str, Any] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # setWebhook's parameters while a webhook is set; getUpdates is then refused (409).
    webhook: dict[str, Any] | None = None

    def wake(self) -> None:
        # Pulse: release current waiters, later waiters get a fresh unset event.
        self.arrived.set()
        self.arrived = asyncio.Event()

    def confirm(self, offset: int) -> None:
        # Unlike Telegram, only updates already handed out are confirmed: a test that
        # re-pushes an old update_id (push_raw) must see it delivered once more.
        self.queue = [
            q for q in self.queue if not (q.delivered and q.update["update_id"] < offset)
        ]


class LocalAiohttpSession(AiohttpSession):
    """aiogram's AiohttpSession, minus the 250 ms sleep in ``close()``.

    aiogram sleeps there to let SSL connections shut down; plain HTTP to 127.0.0.1 has
    none, and the sleep would otherwise dominate every bot test's teardown.
    """

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class _ApiError(Exception):
    def __init__(self, status: int, description: str | None = None) -> None:
        super().__init__(status)
        self.body = Fault(status, description, None, None).body()
        self.status = status


class FakeTelegram:
    """In-process Bot API double. Use as ``async with FakeTelegram() as server:``."""

    def __init__(self, *, max_poll_wait: float = 2.0) -> None:
        # Long polls wait at most this long whatever timeout the client asks for, so a
        # forgotten poller can never stall a test; aiogram simply polls again.
        self.max_poll_wait = max_poll_wait
        self.requests: list[Recorded] = []
        self._answered: list[Recorded] = []  # in answer order, for wait_for_sent
        self._bots: dict[str, _BotState] = {}
        self._faults: dict[tuple[str | None, str], deque[Fault]] = {}
        self._message_ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._handlers: dict[str, Callable[[_BotState, Params], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "editmessagetext": self._edit_message,
            "editmessagereplymarkup": self._edit_message,
        }

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # handler_cancellation: when aiogram drops a long poll (stop_polling) the pending
        # getUpdates handler is cancelled instead of later swallowing an update.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))  # port 0: the OS picks a free port, no races
        await web.SockSite(self._runner, sock).start()
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        self._closing = True
        for state in self._bots.values():
            state.wake()  # pending long polls answer [] at once instead of timing out
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- setup -----------------------------------------------------------------------

    def add_bot(
        self,
        token: str,
        username: str = "test_bot",
        bot_id: int | None = None,
        *,
        first_name: str = "Test Bot",
    ) -> None:
        """Register a bot; ``bot_id`` defaults to the token's numeric prefix, as aiogram's
        ``Bot.id`` does."""
        user = {
            "id": bot_id if bot_id is not None else int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._bots[token] = _BotState(token=token, user=user)

    def make_bot(self, token: str) -> Bot:
        """A real aiogram ``Bot`` whose HTTP calls go to this fake."""
        api = TelegramAPIServer.from_base(self.base_url)
        return Bot(token, session=LocalAiohttpSession(api=api))

    def inject(
        self,
        method: str,
        *,
        token: str | None = None,
        status: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        delay: float | None = None,
    ) -> None:
        """Queue ``times`` faults for ``method`` (for ``token``, or any bot if None).

        ``status`` defaults to 500; with only ``delay`` given, the call is answered
        normally after sleeping ``delay`` seconds (a slow Telegram / client timeout).
        """
        if status is None and delay is None:
            status = 500
        fault = Fault(status, description, retry_after, delay)
        self._faults.setdefault((token, method.lower()), deque()).extend([fault] * times)

    # -- updates ---------------------------------------------------------------------

    def push_update(self, token: str, update: Mapping[str, Any]) -> int:
        """Queue an update; assigns the next update_id unless one is given. Returns it."""
        state = self._bots[token]
        update_id = update.get("update_id", state.next_update_id)
        return self.push_raw(token, {**update, "update_id": update_id})

    def push_raw(self, token: str, update: Mapping[str, Any]) -> int:
        """Queue an update keeping its update_id, even one delivered before."""
        state = self._bots[token]
        update_id = int(update["update_id"])
        state.next_update_id = max(state.next_update_id, update_id + 1)
        state.queue.append(_Queued(dict(update)))
        state.wake()
        return update_id

    def pending(self, token: str) -> int:
        """Updates queued for ``token`` and not yet confirmed by an offset."""
        return len(self._bots[token].queue)

    # -- inspection ------------------------------------------------------------------

    def calls(
        self, method: str | None = None, *, token: str | None = None, chat_id: Any = None
    ) -> list[Recorded]:
        """Recorded requests, optionally filtered (arrived ones, answered or not)."""
        return [
            r
            for r in self.requests
            if (method is None or r.method.lower() == method.lower())
            and (token is None or r.token == token)
            and (chat_id is None or r.params.get("chat_id") == chat_id)
        ]

    def sent(self, token: str | None = None, chat_id: Any = None) -> list[Params]:
        """Params of sendMessage calls that succeeded (faulted ones were not 'sent')."""
        return [
            r.params
            for r in self.calls("sendMessage", token=token, chat_id=chat_id)
            if r.status == 200
        ]

    def request_times(
        self, method: str = "sendMessage", *, token: str | None = None, chat_id: Any = None
    ) -> list[float]:
        """Monotonic arrival times, for asserting rate limits per chat or globally."""
        return [r.at for r in self.calls(method, token=token, chat_id=chat_id)]

    # The wait helpers take `timeout` (ASYNC109) rather than relying on asyncio.timeout so
    # that the TimeoutError can say what was expected and what actually arrived.
    async def wait_for_sent(
        self,
        chat_id: Any,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        token: str | None = None,
    ) -> list[Params]:
        """Wait until at least ``count`` messages to ``chat_id`` were sent; return them."""

        def match(r: Recorded) -> bool:
            return (
                r.method.lower() == "sendmessage"
                and r.status == 200
                and (token is None or r.token == token)
                and r.params.get("chat_id") == chat_id
            )

        def explain() -> str:
            everything = [
                (r.token, r.params.get("chat_id"), r.params.get("text"), r.status)
                for r in self.calls("sendMessage")
            ]
            return (
                f"expected {count} message(s) to chat {chat_id!r} within {timeout}s; "
                f"all sendMessage calls (token, chat_id, text, status): {everything}"
            )

        found = await self._wait_count(self._answered, match, count, timeout, explain)
        return [r.params for r in found]

    async def wait_for_requests(
        self,
        method: str,
        *,
        count: int = 1,
        token: str | None = None,
        chat_id: Any = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Recorded]:
        """Wait until ``count`` calls of ``method`` have arrived (answered or not)."""

        def match(r: Recorded) -> bool:
            return (
                r.method.lower() == method.lower()
                and (token is None or r.token == token)
                and (chat_id is None or r.params.get("chat_id") == chat_id)
            )

        def explain() -> str:
            seen = [(r.token, r.method) for r in self.requests]
            return f"expected {count} {method} call(s) within {timeout}s; seen: {seen}"

        return await self._wait_count(self.requests, match, count, timeout, explain)

    async def _wait_count(
        self,
        source: list[Recorded],
        match: Callable[[Recorded], bool],
        count: int,
        timeout: float,  # noqa: ASYNC109
        explain: Callable[[], str],
    ) -> list[Recorded]:
        # Scans only records added since the last wake-up: the benchmark waits for
        # thousands of calls and a full rescan per request would skew what it measures.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        found: list[Recorded] = []
        seen = 0
        while True:
            changed = self._changed
            found.extend(r for r in source[seen:] if match(r))
            seen = len(source)
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(explain())
            with suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # -- aiogram polling helper ------------------------------------------------------

    @asynccontextmanager
    async def polling(
        self, dp: Dispatcher, *bots: Bot, polling_timeout: int = 1, **kwargs: Any
    ) -> AsyncIterator[asyncio.Task[None]]:
        """Run ``dp.start_polling(*bots)`` for the block; stop it on exit.

        Entering waits for each bot's first getUpdates: ``stop_polling()`` raises if
        polling has not taken its lock yet, and a failing startup (e.g. getMe 401)
        surfaces here as the task's exception instead of a hang.
        """
        before = {bot.token: len(self.calls("getUpdates", token=bot.token)) for bot in bots}
        task = asyncio.create_task(
            dp.start_polling(
                *bots, handle_signals=False, polling_timeout=polling_timeout, **kwargs
            )
        )

        async def started() -> None:
            for bot in bots:
                await self.wait_for_requests(
                    "getUpdates", token=bot.token, count=before[bot.token] + 1
                )

        waiter = asyncio.create_task(started())
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            waiter.cancel()
            task.result()  # raises the startup error
            raise RuntimeError("polling ended before it started")
        try:
            waiter.result()  # TimeoutError if some bot never polled; still stop the rest
            yield task
        finally:
            if not task.done():
                await dp.stop_polling()
            await task

    # -- request handling ------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        params = _decode_params({**request.query, **(await request.post())})
        record = Recorded(token, method, params, at=time.monotonic())
        self.requests.append(record)
        self._notify()

        status, body = await self._answer(token, method, params)
        record.status, record.result = status, body.get("result")
        self._answered.append(record)
        self._notify()
        return web.json_response(body, status=status)

    async def _answer(self, token: str, method: str, params: Params) -> tuple[int, Any]:
        state = self._bots.get(token)
        if state is None:
            return 401, Fault(401, None, None, None).body()
        fault = self._take_fault(token, method)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status is not None:
                return fault.status, fault.body()
        try:
            result = await self._dispatch(state, method, params)
        except _ApiError as error:
            return error.status, error.body
        return 200, {"ok": True, "result": result}

    def _take_fault(self, token: str, method: str) -> Fault | None:
        for key in ((token, method.lower()), (None, method.lower())):
            if queue := self._faults.get(key):
                return queue.popleft()
        return None

    async def _dispatch(self, state: _BotState, method: str, params: Params) -> Any:
        name = method.lower()  # Bot API method names are case-insensitive
        if handler := self._handlers.get(name):
            return await handler(state, params)
        if name.startswith("send") and name != "sendchataction":
            # sendMessage, sendPhoto, ...: aiogram validates the result as a Message.
            return self._message(state, params["chat_id"], params)
        # answerCallbackQuery, deleteMessage, sendChatAction and anything unknown.
        return True

    async def _get_me(self, state: _BotState, params: Params) -> Any:
        return state.user

    async def _get_updates(self, state: _BotState, params: Params) -> Any:
        if state.webhook is not None:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = params.get("offset")
        if isinstance(offset, int) and offset > 0:
            state.confirm(offset)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), self.max_poll_wait)

        state.poll_generation += 1
        generation = state.poll_generation
        state.wake()  # an older poll on this token now sees it was superseded
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._closing:
            arrived = state.arrived
            if generation != state.poll_generation:
                raise _ApiError(409)
            if state.queue or (remaining := deadline - loop.time()) <= 0:
                break
            with suppress(TimeoutError):
                await asyncio.wait_for(arrived.wait(), remaining)

        batch = sorted(state.queue, key=lambda q: q.update["update_id"])[:limit]
        for queued in batch:
            queued.delivered = True
        return [q.update for q in batch]

    async def _delete_webhook(self, state: _BotState, params: Params) -> Any:
        if params.get("drop_pending_updates"):
            state.queue.clear()
        state.webhook = None
        return True

    async def _set_webhook(self, state: _BotState, params: Params) -> Any:
        # Telegram's rules for what setWebhook accepts; the webhook itself is not called.
        url, secret = params.get("url"), params.get("secret_token")
        if not url:
            state.webhook = None
            return True
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        state.webhook = dict(params)
        return True

    def webhook(self, token: str) -> dict[str, Any] | None:
        """The parameters of the bot's current setWebhook, or None (polling)."""
        return self._bots[token].webhook

    async def _get_webhook_info(self, state: _BotState, params: Params) -> Any:
        url = (state.webhook or {}).get("url", "")
        return {"url": url, "has_custom_certificate": False, "pending_update_count": 0}

    async def _set_my_commands(self, state: _BotState, params: Params) -> Any:
        state.commands[_commands_key(params)] = params.get("commands", [])
        return True

    async def _get_my_commands(self, state: _BotState, params: Params) -> Any:
        return state.commands.get(_commands_key(params), [])

    async def _edit_message(self, state: _BotState, params: Params) -> Any:
        if "inline_message_id" in params:
            return True  # Telegram answers True for inline-mode messages
        return self._message(state, params["chat_id"], params, params["message_id"])

    def _message(
        self, state: _BotState, chat_id: Any, params: Params, message_id: int | None = None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": message_id or next(self._message_ids),
            "date": int(time.time()),
            "chat": _chat(chat_id),
            "from": state.user,
        }
        for key in ("text", "caption"):
            if key in params:
                message[key] = params[key]
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            # Telegram echoes only inline keyboards back in the Message.
            message["reply_markup"] = markup
        return message


def _decode_params(raw: Mapping[str, Any]) -> Params:
    params: Params = {}
    for key, value in raw.items():
        if isinstance(value, FileField):
            params[key] = {
                "filename": value.filename,
                "content_type": value.content_type,
                "data": value.file.read(),
            }
        elif key in _RAW_STRING_FIELDS:
            params[key] = value
        else:
            try:
                params[key] = json.loads(value)
            except ValueError:
                params[key] = value  # plain strings: "@channel", "HTML", "typing"
    return params


def _chat(chat_id: Any) -> dict[str, Any]:
    if isinstance(chat_id, str):  # "@channelusername"
        fake_id = -1_000_000_000_000 - zlib.crc32(chat_id.encode())
        return {"id": fake_id, "type": "channel", "title": chat_id, "username": chat_id[1:]}
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "User"}
    kind = "supergroup" if str(chat_id).startswith("-100") else "group"
    return {"id": chat_id, "type": kind, "title": "Group"}


def _commands_key(params: Params) -> str:
    scope = json.dumps(params.get("scope") or {"type": "default"}, sort_keys=True)
    return f"{scope}|{params.get('language_code', '')}"
