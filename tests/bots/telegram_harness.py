"""End-to-end harness: FakeTelegram + the app built by the composition root + the REAL
TelegramFrontEnd long-polling it, and simulated users who talk to the bots.

Synchronisation without sleeps: after pushing an update, a chat waits until the front end
fetched it (a getUpdates answer carried it and the front end asked for the next batch, so
the handler task exists) and then until the front end is idle. Every assertion is on what
the fake server received.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiogram.utils.backoff import BackoffConfig

from app.bootstrap import Container, build
from app.runner import telegram_front_end, telegram_options
from app.settings import Settings, load_settings
from bots.telegram.app import TelegramFrontEnd
from bots.telegram.polling import PollingOptions
from bots.telegram.sender import RetryPolicy
from tests.conftest import PARKS, reset_postgres
from tests.fakes import telegram_updates as tg
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fakes.telegram_server import FakeTelegram

Params = dict[str, Any]

MOS_TOKEN = "111:AAA-mos-gortaxi-test-token"
SPB_TOKEN = "222:BBB-spb-taxi-test-token"
TOKENS = {"mos": MOS_TOKEN, "spb": SPB_TOKEN}
USERNAMES = {"mos": "mos_gortaxi_bot", "spb": "spb_taxi_bot"}

ASK_CONTACT = (
    "Для регистрации подтвердите номер телефона: нажмите кнопку «Отправить номер телефона» ниже."
)
ASK_CODE = (
    "Введите реферальный код, если он у вас есть "
    '(нажмите кнопку "У меня нет реферального кода", если кода нет)'
)
NO_CODE = "У меня нет реферального кода"
MY_CODE = "Мой реферальный код"
MY_BONUS = "Мои бонусы"
SHARE_PHONE = "Отправить номер телефона"
REGISTERED = "Регистрация завершена!"
UNSUPPORTED = "Я понимаю только текст и кнопки."

# Tuning over the options ``taxireg run`` builds from the settings: the product waits
# seconds, the tests must not.
FAST: dict[str, Any] = {
    "retry": RetryPolicy(backoff=0.01),
    "polling": PollingOptions(
        polling_timeout=1,
        backoff=BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0.0),
        standby_interval=0.05,
        lease_check_interval=0.1,
        straggler_wait=0.2,
    ),
    "check_timeout": 5.0,
    "drain_timeout": 5.0,
}
WAIT = 10.0  # generous bound for any single exchange; never reached when things work

_user_ids = itertools.count(500_001)


def front_end(app: Container, tuning: dict[str, Any] | None = None) -> TelegramFrontEnd:
    """The front end as ``taxireg run`` wires it, with the tests' tuning."""
    options = replace(telegram_options(app.settings), **(FAST if tuning is None else tuning))
    return telegram_front_end(app, options)


def telegram_parks(tokens: dict[str, str | None]) -> list[dict[str, Any]]:
    return [{**park, "telegram_token": tokens.get(park["slug"])} for park in PARKS]


@dataclass
class World:
    """One fake Bot API server and one running app (rebuilt on restart, same database)."""

    fake: FakeTelegram
    settings: Settings
    clock: FakeClock = field(default_factory=FakeClock)
    sms: RecordingSms = field(default_factory=RecordingSms)
    options: dict[str, Any] = field(default_factory=lambda: dict(FAST))
    app: Container | None = None
    front: TelegramFrontEnd | None = None

    @property
    def container(self) -> Container:
        assert self.app is not None, "the app is not running"
        return self.app

    async def start(self) -> None:
        self.app = await build(self.settings, clock=self.clock, sms=self.sms)
        self.front = front_end(self.app, self.options)
        before = {t: len(self.fake.calls("getUpdates", token=t)) for t in TOKENS.values()}
        await self.front.start()
        for slug in self.front.bots:  # serving = each running bot is in its first poll
            token = TOKENS[slug]
            await self.fake.wait_for_requests(
                "getUpdates", token=token, count=before[token] + 1, timeout=WAIT
            )

    async def stop(self) -> None:
        if self.front is not None:
            await self.front.stop()
            self.front = None
        if self.app is not None:
            await self.app.aclose()
            self.app = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    def chat(
        self,
        park: str = "mos",
        *,
        user_id: int | None = None,
        first_name: str = "Пётр",
        language_code: str = "ru",
    ) -> Chat:
        return Chat(self, park, user_id or next(_user_ids), first_name, language_code)

    async def push(self, token: str, update: dict[str, Any]) -> int:
        """Push an update for any chat (groups, channels) and wait until it is handled."""
        update_id = self.fake.push_update(token, update)
        await self.settle(token, update_id, set())
        return update_id

    def carriers(self, token: str, update_id: int) -> set[int]:
        """Indexes (in ``fake.requests``) of the polls that delivered ``update_id``."""
        return {
            index
            for index, r in enumerate(self.fake.requests)
            if r.token == token
            and r.method.lower() == "getupdates"
            and any(u.get("update_id") == update_id for u in r.result or [])
        }

    async def settle(self, token: str, update_id: int, earlier: set[int]) -> None:
        """Wait until the update was fetched (by a poll not in ``earlier``) and everything
        in hand is handled."""
        deadline = asyncio.get_running_loop().time() + WAIT
        while not self._fetched(token, update_id, earlier):
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"update {update_id} was never fetched by the front end")
            count = len(self.fake.calls("getUpdates", token=token)) + 1
            await self.fake.wait_for_requests(
                "getUpdates", token=token, count=count, timeout=remaining
            )
        assert self.front is not None
        async with asyncio.timeout(WAIT):
            await self.front.idle()

    def _fetched(self, token: str, update_id: int, earlier: set[int]) -> bool:
        fresh = self.carriers(token, update_id) - earlier
        if not fresh:
            return False
        # The front end sends its next poll only after turning the batch into handler
        # tasks, so a later poll means the update is in hand.
        return any(
            r.token == token and r.method.lower() == "getupdates"
            for r in self.fake.requests[min(fresh) + 1 :]
        )


@dataclass
class Chat:
    """A Telegram user in a private chat with one park's bot."""

    world: World
    park: str
    user_id: int
    first_name: str
    language_code: str
    received: list[Params] = field(default_factory=list)

    @property
    def token(self) -> str:
        return TOKENS[self.park]

    @property
    def fake(self) -> FakeTelegram:
        return self.world.fake

    async def send(self, update: dict[str, Any], *, raw: bool = False) -> list[Params]:
        """Push an update; return the messages the bot sent to this chat in answer."""
        before = len(self.fake.sent(self.token, self.user_id))
        if raw:
            earlier = self.world.carriers(self.token, update["update_id"])
            update_id = self.fake.push_raw(self.token, update)
        else:
            earlier = set()
            update_id = self.fake.push_update(self.token, update)
        await self.world.settle(self.token, update_id, earlier)
        new = self.fake.sent(self.token, self.user_id)[before:]
        self.received.extend(new)
        return new

    def message(self, text: str) -> dict[str, Any]:
        return tg.message(
            self.user_id, text, first_name=self.first_name, language_code=self.language_code
        )

    async def say(self, text: str) -> list[Params]:
        return await self.send(self.message(text))

    async def start(self, payload: str | None = None) -> list[Params]:
        return await self.say(f"/start {payload}" if payload else "/start")

    async def share_contact(self, phone: str, *, owner: int | None = None) -> list[Params]:
        return await self.send(
            tg.contact(self.user_id, phone, contact_user_id=owner, first_name=self.first_name)
        )

    async def register(self, phone: str, code: str | None = None) -> str:
        """/start, contact, code or no-code; returns the driver's own referral code."""
        await self.start()
        await self.share_contact(phone)
        [done] = await self.say(code or NO_CODE)
        assert REGISTERED in done["text"], done["text"]
        return own_code(done["text"])


def texts(messages: list[Params]) -> list[str]:
    return [m["text"] for m in messages]


def keyboard(message: Params) -> list[Params]:
    """The reply keyboard buttons of a message, flattened."""
    return [b for row in message["reply_markup"]["keyboard"] for b in row]


def url_buttons(message: Params) -> list[Params]:
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


def own_code(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("Ваш реферальный код: "):
            return line.removeprefix("Ваш реферальный код: ").strip()
    raise AssertionError(f"no referral code in {text!r}")


@asynccontextmanager
async def running_world(
    database_url: str,
    tmp_path: Path,
    *,
    tokens: dict[str, str | None] | None = None,
    fake_bots: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
) -> AsyncIterator[World]:
    """FakeTelegram with the parks' bots, the app on ``database_url``, bots polling."""
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    async with FakeTelegram() as fake:
        for slug, token in (fake_bots if fake_bots is not None else TOKENS).items():
            fake.add_bot(token, USERNAMES[slug])
        settings = load_settings(
            None,
            data_dir=tmp_path,
            database={"url": database_url},
            telegram={"api_server": fake.base_url, "polling_timeout": 1},
            parks=telegram_parks(tokens if tokens is not None else dict(TOKENS)),
        )
        world = World(fake, settings, options=dict(FAST if options is None else options))
        await world.start()
        try:
            yield world
        finally:
            await world.stop()
