"""What the three-process crash test needs besides the shared fakes: fakes that record who
long-polls when, an HTTP SMS gateway, and drivers who register the way people do.

The fakes are subclasses so that the shared ones stay as they are; they only add records.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from core.replies import Action
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK


@dataclass
class Poll:
    """One long poll as the server saw it: which bot, which client port, when."""

    bot: str
    port: int
    start: float
    end: float | None = None
    status: int | None = None


def _port(request: web.Request) -> int:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return int(peer[1]) if peer else 0


class TrackingTelegram(FakeTelegram):
    """FakeTelegram recording every getUpdates as a ``Poll`` (it already answers a
    superseded concurrent poll with 409, as Telegram does)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls: list[Poll] = []

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["method"].lower() != "getupdates":
            return await super()._handle(request)
        poll = Poll(request.match_info["token"], _port(request), time.monotonic())
        self.polls.append(poll)
        try:
            response = await super()._handle(request)
            poll.status = response.status
            return response
        finally:  # also when cancelled: the client (a killed process) hung up
            poll.end = time.monotonic()


class TrackingVK(FakeVK):
    """FakeVK recording every long poll as a ``Poll``; a poll whose client hangs up is
    cancelled (as a real server stops serving it), so a killed process's poll ends then."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.polls: list[Poll] = []

    async def start(self) -> FakeVK:
        # FakeVK.start, with handler_cancellation so a dead client's poll ends at once.
        self._closing = False
        app = web.Application()
        app.router.add_route("*", "/method/{method}", self._handle_method)
        app.router.add_route("*", "/lp/{group_id}", self._handle_long_poll)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def _handle_long_poll(self, request: web.Request) -> web.StreamResponse:
        poll = Poll(request.match_info["group_id"], _port(request), time.monotonic())
        self.polls.append(poll)
        try:
            response = await super()._handle_long_poll(request)
            poll.status = response.status
            return response
        finally:
            poll.end = time.monotonic()


# How long after a kill the fake may still hold the dead client's long poll open: it notices
# the hang-up on a later loop turn, or only when the poll times out (1 s) or is superseded.
DEAD_POLL_GRACE = 3.0


def cut_by_kill(poll: Poll, kills: list[float]) -> bool:
    """A poll open across a kill that ended soon after it: the killed process's own poll,
    which the fake answers (409 once superseded, as Telegram does) or drops only after its
    client is already gone. Such a poll is not a second poller."""
    return (
        poll.status in (None, 409)
        and poll.end is not None
        and any(poll.start < k <= poll.end <= k + DEAD_POLL_GRACE for k in kills)
    )


def overlaps(polls: list[Poll], kills: list[float]) -> list[tuple[Poll, Poll]]:
    """Pairs of polls of one bot that were open at the same time (two pollers at once),
    leaving out the dead client's poll cut by a kill (``cut_by_kill``)."""
    found = []
    by_bot: dict[str, list[Poll]] = {}
    for poll in polls:
        by_bot.setdefault(poll.bot, []).append(poll)
    for bot_polls in by_bot.values():
        ordered = sorted(bot_polls, key=lambda p: p.start)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.end is not None and later.start >= earlier.end:
                continue
            if not (cut_by_kill(earlier, kills) and later.start >= _kill_before(earlier, kills)):
                found.append((earlier, later))
    return found


def _kill_before(poll: Poll, kills: list[float]) -> float:
    """The kill that cut ``poll`` (the first one inside it)."""
    return min(k for k in kills if poll.start < k <= (poll.end or k))


def longest_gap(polls: list[Poll], bot: str, until: float) -> float:
    """The longest time ``bot`` had no poll open, from its first poll to ``until``."""
    ordered = sorted((p for p in polls if p.bot == bot), key=lambda p: p.start)
    if not ordered:
        return float("inf")
    gap, covered = 0.0, ordered[0].start
    for poll in ordered:
        gap = max(gap, poll.start - covered)
        covered = max(covered, poll.end if poll.end is not None else until)
    return max(gap, until - covered)


class SmsGateway:
    """An HTTP SMS gateway on 127.0.0.1 for ``[sms] sender = "http"``: records each text."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []  # (digits of the phone, text)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> SmsGateway:
        app = web.Application()
        app.router.add_get("/send", self._send)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/send?to={{phone}}&text={{text}}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _send(self, request: web.Request) -> web.Response:
        digits = "".join(c for c in request.query.get("to", "") if c.isdigit())
        self.sent.append((digits, request.query.get("text", "")))
        return web.Response(text="OK")

    def last_code(self, phone: str) -> str | None:
        digits = "".join(c for c in phone if c.isdigit())
        for to, text in reversed(self.sent):
            if to == digits:
                found = [w.strip(".,:") for w in text.split() if w.strip(".,:").isdigit()]
                return found[-1] if found else None
        return None


# What a driver reads in the bot's messages (ru catalog) and does next.
CODE = "Ваш реферальный код:"
DONE, NO_CODE, SMS_CODE, PHONE, START = "done", "no-code", "sms-code", "phone", "start"
RESEND = "resend"
PROMPTS = (
    (CODE, DONE),
    ("Введите реферальный код", NO_CODE),
    ("Слишком много неверных попыток", RESEND),
    ("Срок действия кода истёк", RESEND),
    ("Мы отправили SMS", SMS_CODE),
    ("Новый код можно запросить", SMS_CODE),
    ("Неверный код", SMS_CODE),
    ("Для регистрации подтвердите номер", PHONE),
    ("Для регистрации введите номер", PHONE),
)
NO_CODE_LABEL = "У меня нет реферального кода"


def next_step(messages: list[str]) -> str:
    """What to do after the newest message the driver understands (errors are skipped)."""
    for text in reversed(messages):
        for part, step in PROMPTS:
            if part in text:
                return step
    return START


@dataclass
class Driver:
    """One simulated driver in one bot: acts on the bot's last prompt; when the bot stays
    silent for ``patience`` seconds (a reply lost in a crash), does it again, as a person
    would."""

    name: str
    phone: str
    messages: Callable[[], list[str]]
    wait_new: Callable[[int, float], Awaitable[object]]
    act: Callable[[str], None]
    retries: int = 0

    def code(self) -> str | None:
        for text in self.messages():
            if CODE in text:
                return text.split(CODE, 1)[1].split()[0]
        return None

    async def register(self, patience: float) -> str:
        while (code := self.code()) is None:
            self.act(next_step(self.messages()))
            while True:
                try:
                    await self.wait_new(len(self.messages()) + 1, patience)
                except TimeoutError:
                    self.retries += 1
                    break
                if next_step(self.messages()) != START or self.code():
                    break  # a prompt arrived (not just a greeting): act on it
        return code


def telegram_driver(fake: FakeTelegram, token: str, chat: int, phone: str) -> Driver:
    def act(step: str) -> None:
        if step == PHONE:
            fake.push_update(token, tg.contact(chat, phone.lstrip("+")))
        elif step == NO_CODE:
            fake.push_update(token, tg.message(chat, NO_CODE_LABEL))
        else:  # START (Telegram asks no SMS code)
            fake.push_update(token, tg.message(chat, "/start"))

    async def wait_new(count: int, timeout: float) -> object:  # noqa: ASYNC109
        return await fake.wait_for_sent(chat, count, timeout=timeout, token=token)

    def messages() -> list[str]:
        return [str(p.get("text", "")) for p in fake.sent(token, chat)]

    return Driver(f"tg:{chat}", phone, messages, wait_new, act)


def vk_driver(vk: FakeVK, group: int, peer: int, phone: str, sms: SmsGateway) -> Driver:
    def act(step: str) -> None:
        if step == PHONE:
            event = vk_updates.message_new(peer, phone)
        elif step == SMS_CODE:
            event = vk_updates.message_new(peer, sms.last_code(phone) or "000000")
        elif step == RESEND:  # the «Отправить код ещё раз» button
            event = vk_updates.message_new(
                peer, "Отправить код ещё раз", payload={"action": Action.RESEND_SMS.value}
            )
        elif step == NO_CODE:
            payload = {"action": Action.NO_CODE.value}
            event = vk_updates.message_new(peer, NO_CODE_LABEL, payload=payload)
        else:
            event = vk_updates.message_new(peer, "Начать", payload={"command": "start"})
        vk.push_event(group, event)

    async def wait_new(count: int, timeout: float) -> object:  # noqa: ASYNC109
        return await vk.wait_for_sent(peer, count, timeout=timeout, group_id=group)

    def messages() -> list[str]:
        return [s.message for s in vk.sent_to(peer, group)]

    return Driver(f"vk:{peer}", phone, messages, wait_new, act)


async def run_all(drivers: list[Driver], patience: float, stagger: float) -> list[str]:
    """Every driver registers; they start ``stagger`` seconds apart, as people arrive."""

    async def one(n: int, driver: Driver) -> str:
        await asyncio.sleep(n * stagger)  # arrival times, not waiting for a condition
        return await driver.register(patience)

    return list(await asyncio.gather(*(one(n, d) for n, d in enumerate(drivers))))
