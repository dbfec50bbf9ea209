"""A fake VK API + Bots Long Poll server on 127.0.0.1 for driving a REAL vkbottle bot.

Point a bot at it with ``bot.api.API_URL = fake.api_url`` (vkbottle builds every
method URL as ``self.API_URL + method``, so the instance attribute is enough).

What it models, because our bot code depends on it:

* several communities at once, told apart by ``access_token`` exactly like VK;
* VK's envelopes: ``{"response": ...}`` / ``{"error": {"error_code", "error_msg",
  "request_params"}}`` and the long-poll ``{"ts", "updates"}`` / ``{"failed": n}``;
* real long polling: a request parks until an event arrives or ``wait`` expires,
  so tests synchronise on events instead of sleeping;
* ``random_id`` de-duplication of ``messages.send`` (VK silently answers a repeated
  random_id with the first message id and delivers nothing);
* fault injection (VK error codes, HTTP 5xx, slow answers, long-poll ``failed``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

LONG_POLL = "longpoll"
"""Pseudo method name for ``inject``: faults for the long-poll endpoint itself."""

API_VERSION = "5.199"

ERROR_MESSAGES: dict[int, str] = {
    5: "User authorization failed: invalid access_token (4).",
    6: "Too many requests per second",
    8: "Invalid request: v (version) is required",
    9: "Flood control",
    10: "Internal server error",
    15: "Access denied: no access to this group",
    100: "One of the parameters specified was missing or invalid",
    901: "Can't send messages for users without permission",
    902: "Can't send messages to this user due to their privacy settings",
    911: "Keyboard format is invalid",
}

# Documented keyboard limits; VK rejects the whole message when they are broken,
# which is easy to hit with long Russian button labels.
MAX_LABEL_LEN = 40
MAX_PAYLOAD_LEN = 255
MAX_BUTTONS_PER_ROW = 5
MAX_ROWS = 10
MAX_INLINE_ROWS = 6


@dataclass(frozen=True)
class Sent:
    """One delivered ``messages.send`` (one per recipient when ``peer_ids`` is used)."""

    group_id: int
    peer_id: int
    message: str
    keyboard: dict[str, Any] | None
    random_id: int
    params: dict[str, str]
    message_id: int = 0

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Button ``action`` objects, rows flattened."""
        if not self.keyboard:
            return []
        return [button["action"] for row in self.keyboard["buttons"] for button in row]

    @property
    def labels(self) -> list[str]:
        return [action.get("label", "") for action in self.buttons]


@dataclass(frozen=True)
class Call:
    """Any API method call that passed authorisation (for asserting side calls)."""

    group_id: int
    method: str
    params: dict[str, str]


@dataclass
class Fault:
    """An injected failure; ``hits`` tells a test whether it actually fired."""

    method: str
    group_id: int | None
    peer_id: int | None
    error_code: int | None
    error_msg: str | None
    http_status: int | None
    body: str | None
    failed: int | None
    delay: float | None
    remaining: int | None  # None = forever
    hits: int = 0

    def matches(self, group_id: int, method: str, peers: Iterable[int]) -> bool:
        if self.method != method or self.remaining == 0:
            return False
        if self.group_id is not None and self.group_id != group_id:
            return False
        return self.peer_id is None or self.peer_id in peers


@dataclass
class _Group:
    group_id: int
    token: str
    screen_name: str
    name: str
    key: str = field(default_factory=lambda: secrets.token_hex(16))
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    # Swapped for a fresh Event on every change so waiters can be woken without a lock.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    parked: int = 0  # long polls waiting right now
    polls: int = 0  # long polls that ever got past key/ts checks

    @property
    def ts(self) -> int:
        return self.events[-1][0] if self.events else 0

    def wake(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()


class VKError(Exception):
    def __init__(self, code: int, msg: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = msg or ERROR_MESSAGES.get(code, f"Error {code}")


def _envelope_error(code: int, msg: str, method: str, params: dict[str, str]) -> dict[str, Any]:
    request_params = [{"key": "method", "value": method}, {"key": "oauth", "value": "1"}]
    request_params += [{"key": k, "value": v} for k, v in params.items() if k != "access_token"]
    return {"error": {"error_code": code, "error_msg": msg, "request_params": request_params}}


def _peers_of(params: dict[str, str]) -> list[int]:
    raw = params.get("peer_ids") or params.get("peer_id") or params.get("user_id") or ""
    return [int(p) for p in raw.split(",") if p.strip()]


def _check_keyboard(raw: str) -> dict[str, Any]:
    try:
        keyboard = json.loads(raw)
        rows = keyboard["buttons"]
        max_rows = MAX_INLINE_ROWS if keyboard.get("inline") else MAX_ROWS
        if not isinstance(rows, list) or len(rows) > max_rows:
            raise ValueError("too many rows")
        for row in rows:
            if len(row) > MAX_BUTTONS_PER_ROW:
                raise ValueError("too many buttons in a row")
            for button in row:
                action = button["action"]
                if len(action.get("label", "")) > MAX_LABEL_LEN:
                    raise ValueError("label too long")
                payload = action.get("payload")
                if payload is not None and not isinstance(payload, str):
                    payload = json.dumps(payload)
                if payload is not None and len(payload) > MAX_PAYLOAD_LEN:
                    raise ValueError("payload too long")
    except (ValueError, KeyError, TypeError) as exc:
        raise VKError(911, f"{ERROR_MESSAGES[911]}: {exc}") from None
    return keyboard


class FakeVK:
    """Fake ``api.vk.ru/method/`` + Bots Long Poll for any number of communities."""

    def __init__(self, *, max_wait: float = 25.0) -> None:
        self.max_wait = max_wait
        self.sent: list[Sent] = []
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.users: dict[int, tuple[str, str]] = {}
        self._groups: dict[int, _Group] = {}
        self._by_token: dict[str, _Group] = {}
        self._sent_changed = asyncio.Event()
        self._message_ids = itertools.count(1001)
        self._event_ids = itertools.count(1)
        self._seen_random: dict[tuple[int, int, int], int] = {}
        self._runner: web.AppRunner | None = None
        self._closing = False
        self.port = 0

    # ----------------------------------------------------------------- lifecycle

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/method/"

    def long_poll_url(self, group_id: int) -> str:
        return f"http://127.0.0.1:{self.port}/lp/{group_id}"

    async def start(self) -> FakeVK:
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/method/{method}", self._handle_method)
        # vkbottle POSTs a_check (params in the query string); VK docs say GET. Take both.
        app.router.add_route("*", "/lp/{group_id}", self._handle_long_poll)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        # Bind ourselves so the free port is known before anyone connects.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def stop(self) -> None:
        # Parked long polls would otherwise hold cleanup() for up to max_wait.
        self._closing = True
        for group in self._groups.values():
            group.wake()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVK:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --------------------------------------------------------------------- setup

    def add_group(
        self, group_id: int, token: str, screen_name: str | None = None, name: str | None = None
    ) -> None:
        group = _Group(
            group_id=group_id,
            token=token,
            screen_name=screen_name or f"club{group_id}",
            name=name or f"Community {group_id}",
        )
        self._groups[group_id] = group
        self._by_token[token] = group

    def add_user(self, user_id: int, first_name: str, last_name: str) -> None:
        self.users[user_id] = (first_name, last_name)

    def expire_key(self, group_id: int) -> None:
        """Rotate the long-poll key: the bot's next a_check gets ``{"failed": 2}``."""
        group = self._groups[group_id]
        group.key = secrets.token_hex(16)
        group.wake()

    def inject(
        self,
        method: str,
        *,
        group_id: int | None = None,
        peer_id: int | None = None,
        error_code: int | None = None,
        error_msg: str | None = None,
        http_status: int | None = None,
        body: str | None = None,
        failed: int | None = None,
        times: int | None = 1,
        delay: float | None = None,
    ) -> Fault:
        """Make the next ``times`` calls of ``method`` (None = all) misbehave.

        Precedence: ``delay`` first, then ``http_status`` (plain-text body like a
        real nginx 5xx unless ``body`` is given), then ``error_code``, then
        ``failed`` (long poll only). A delay alone just slows the normal answer.
        ``peer_id`` limits a ``messages.send`` fault to one recipient, e.g.
        ``inject("messages.send", peer_id=7, error_code=901, times=None)`` for a
        user who blocked the community.
        """
        fault = Fault(
            method=method,
            group_id=group_id,
            peer_id=peer_id,
            error_code=error_code,
            error_msg=error_msg,
            http_status=http_status,
            body=body,
            failed=failed,
            delay=delay,
            remaining=times,
        )
        self.faults.append(fault)
        return fault

    # ------------------------------------------------------------------- events

    def push_event(self, group_id: int, event: dict[str, Any]) -> dict[str, Any]:
        """Queue an update (see ``vk_updates``) and wake the group's long poll."""
        group = self._groups[group_id]
        stamped = {
            **event,
            "group_id": group_id,
            "event_id": f"{next(self._event_ids):040x}",
            "v": API_VERSION,
        }
        group.events.append((group.ts + 1, stamped))
        group.wake()
        return stamped

    def callback_event(
        self, group_id: int, event: dict[str, Any], secret: str | None
    ) -> dict[str, Any]:
        """An update (see ``vk_updates``) as the Callback API POSTs it: stamped like a
        long-polled one, with the server's secret key."""
        stamped = {
            **event,
            "group_id": group_id,
            "event_id": f"{next(self._event_ids):040x}",
            "v": API_VERSION,
        }
        return stamped if secret is None else {**stamped, "secret": secret}

    def polls(self, group_id: int) -> int:
        """How many valid long polls of ``group_id`` have parked so far."""
        return self._groups[group_id].polls

    # A built-in deadline is the point of these helpers: a test must fail, not hang,
    # so they take `timeout` despite ASYNC109.
    async def wait_polling(
        self,
        group_id: int,
        *,
        after: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot is listening to ``group_id``.

        Events pushed before the bot fetched its server are (correctly) never
        delivered, so tests push only after this returns. Without ``after`` any
        parked poll will do (bot start-up); with ``after=fake.polls(gid)`` taken
        earlier it waits for a *newer* poll - use that after faults that make the
        bot re-fetch its server, or to know it finished with the previous answer.
        """
        group = self._groups[group_id]
        async with asyncio.timeout(timeout):
            while (group.parked == 0) if after is None else (group.polls <= after):
                await group.changed.wait()

    # ---------------------------------------------------------------- recording

    def sent_to(self, peer_id: int, group_id: int | None = None) -> list[Sent]:
        return [
            s
            for s in self.sent
            if s.peer_id == peer_id and (group_id is None or s.group_id == group_id)
        ]

    def calls_to(self, method: str, group_id: int | None = None) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.method == method and (group_id is None or c.group_id == group_id)
        ]

    async def wait_for_sent(
        self,
        peer_id: int,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
        group_id: int | None = None,
    ) -> list[Sent]:
        """All messages sent to ``peer_id`` once there are at least ``count`` of them."""
        try:
            async with asyncio.timeout(timeout):
                while len(found := self.sent_to(peer_id, group_id)) < count:
                    await self._sent_changed.wait()
        except TimeoutError:
            got = "\n".join(
                f"  group={s.group_id} peer={s.peer_id} {s.message!r} {s.labels}"
                for s in self.sent
            )
            msg = (
                f"expected {count} message(s) to peer {peer_id} (group {group_id}) within "
                f"{timeout}s; sent so far:\n{got or '  nothing'}"
            )
            raise TimeoutError(msg) from None
        return found

    # ------------------------------------------------------------- API methods

    async def _handle_method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = {k: str(v) for k, v in request.query.items()}
        if request.method == "POST":
            params.update({k: str(v) for k, v in (await request.post()).items()})
        token = params.pop("access_token", "")

        group = self._by_token.get(token)
        if group is None:
            return web.json_response(_envelope_error(5, ERROR_MESSAGES[5], method, params))
        if "v" not in params:
            return web.json_response(_envelope_error(8, ERROR_MESSAGES[8], method, params))

        fault = self._take_fault(group.group_id, method, _peers_of(params))
        if fault is not None:
            faulty = await self._apply_fault(fault, group, method, params)
            if faulty is not None:
                return faulty

        self.calls.append(Call(group.group_id, method, params))
        try:
            result = self._dispatch(group, method, params)
        except VKError as exc:
            return web.json_response(_envelope_error(exc.code, exc.msg, method, params))
        return web.json_response({"response": result})

    def _dispatch(self, group: _Group, method: str, params: dict[str, str]) -> Any:
        match method:
            case "groups.getById":
                return self._groups_get_by_id(group, params)
            case "groups.getLongPollServer":
                if int(params.get("group_id", 0)) != group.group_id:
                    raise VKError(15)
                return {
                    "key": group.key,
                    "server": self.long_poll_url(group.group_id),
                    "ts": str(group.ts),
                }
            case "messages.send":
                return self._messages_send(group, params)
            case "users.get":
                return self._users_get(params)
            case _:
                # setActivity, markAsRead and anything we do not model: VK's "ok".
                return 1

    def _groups_get_by_id(self, group: _Group, params: dict[str, str]) -> dict[str, Any]:
        raw = params.get("group_ids") or params.get("group_id") or ""
        wanted = [int(g) for g in raw.split(",") if g.strip().lstrip("-").isdigit()]
        groups = [self._groups[g] for g in wanted if g in self._groups] if wanted else [group]
        # 5.199 wraps the list in {"groups": [...]}; vkbottle's BotPolling reads that.
        return {
            "groups": [
                {
                    "id": g.group_id,
                    "name": g.name,
                    "screen_name": g.screen_name,
                    "is_closed": 0,
                    "type": "group",
                    "photo_50": "https://vk.com/images/community_50.png",
                }
                for g in groups
            ],
            "profiles": [],
        }

    def _users_get(self, params: dict[str, str]) -> list[dict[str, Any]]:
        raw = params.get("user_ids") or params.get("user_id") or ""
        users = []
        for user_id in (int(u) for u in raw.split(",") if u.strip()):
            first, last = self.users.get(user_id, (f"User{user_id}", "Test"))
            users.append(
                {
                    "id": user_id,
                    "first_name": first,
                    "last_name": last,
                    "can_access_closed": True,
                    "is_closed": False,
                }
            )
        return users

    def _messages_send(self, group: _Group, params: dict[str, str]) -> Any:
        if "random_id" not in params:
            raise VKError(100, f"{ERROR_MESSAGES[100]}: random_id is a required parameter")
        random_id = int(params["random_id"])
        message = params.get("message", "")
        if not message and not params.get("attachment") and not params.get("sticker_id"):
            raise VKError(100, f"{ERROR_MESSAGES[100]}: message is empty or invalid")
        keyboard = _check_keyboard(params["keyboard"]) if "keyboard" in params else None
        peers = _peers_of(params)
        if not peers:
            raise VKError(100, f"{ERROR_MESSAGES[100]}: peer_id is undefined")

        delivered = []
        for peer_id in peers:
            dedup_key = (group.group_id, peer_id, random_id)
            if random_id and dedup_key in self._seen_random:
                message_id = self._seen_random[dedup_key]
            else:
                message_id = next(self._message_ids)
                if random_id:
                    self._seen_random[dedup_key] = message_id
                self.sent.append(
                    Sent(group.group_id, peer_id, message, keyboard, random_id, params, message_id)
                )
            delivered.append(
                {"peer_id": peer_id, "message_id": message_id, "conversation_message_id": 0}
            )
        self._sent_changed.set()
        self._sent_changed = asyncio.Event()

        # peer_ids switches the answer from a bare id to a per-recipient list.
        return delivered if "peer_ids" in params else delivered[0]["message_id"]

    # ---------------------------------------------------------------- long poll

    async def _handle_long_poll(self, request: web.Request) -> web.StreamResponse:
        group = self._groups.get(int(request.match_info["group_id"]))
        if group is None:
            raise web.HTTPNotFound()
        query = request.query

        fault = self._take_fault(group.group_id, LONG_POLL, ())
        if fault is not None:
            faulty = await self._apply_fault(fault, group, LONG_POLL, dict(query))
            if faulty is not None:
                return faulty

        if query.get("act") != "a_check":
            raise web.HTTPBadRequest(text="act=a_check expected")
        if query.get("key") != group.key:
            return web.json_response({"failed": 2})
        try:
            ts = int(query.get("ts", ""))
        except ValueError:
            return web.json_response({"failed": 1, "ts": str(group.ts)})
        wait = min(float(query.get("wait", 25)), self.max_wait)

        key = group.key
        group.parked += 1
        group.polls += 1
        group.wake()  # lets wait_polling() see the parked request
        try:
            async with asyncio.timeout(wait):
                while group.ts <= ts and group.key == key and not self._closing:
                    await group.changed.wait()
        except TimeoutError:
            pass
        finally:
            group.parked -= 1

        if group.key != key:
            return web.json_response({"failed": 2})
        updates = [event for number, event in group.events if number > ts]
        return web.json_response({"ts": str(max(ts, group.ts)), "updates": updates})

    # ------------------------------------------------------------------- faults

    def _take_fault(self, group_id: int, method: str, peers: Iterable[int]) -> Fault | None:
        peers = list(peers)
        for fault in self.faults:
            if fault.matches(group_id, method, peers):
                fault.hits += 1
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    async def _apply_fault(
        self, fault: Fault, group: _Group, method: str, params: dict[str, str]
    ) -> web.StreamResponse | None:
        if fault.delay:
            await asyncio.sleep(fault.delay)  # simulated slowness, not synchronisation
        if fault.http_status is not None:
            # What nginx in front of VK serves: HTML, so vkbottle's JSON parsing fails.
            default = f"<html><body><h1>{fault.http_status} Server Error</h1></body></html>"
            body = fault.body if fault.body is not None else default
            return web.Response(status=fault.http_status, text=body, content_type="text/html")
        if fault.error_code is not None:
            msg = fault.error_msg or ERROR_MESSAGES.get(fault.error_code, "Error")
            return web.json_response(_envelope_error(fault.error_code, msg, method, params))
        if fault.failed is not None:
            reply: dict[str, Any] = {"failed": fault.failed}
            if fault.failed == 1:  # "history outdated": VK hands out a fresh ts
                reply["ts"] = str(group.ts)
            return web.json_response(reply)
        return None
