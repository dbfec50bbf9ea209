"""Shared setup for the notification tests: parks with bots on a fake Bot API, partners
linked through core, drivers registered through core, and a relay driven pass by pass.

The relay is core's ``DeliveryService`` sending through ``TelegramMessenger`` on real aiogram
bots (one shared session, as the front end has) pointed at the fake server.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer

from app.bootstrap import Container, build
from app.settings import load_settings
from app.wiring_scheduler import build_cleanup, build_digests, delivery_options
from bots.telegram.sender import TelegramMessenger
from core.domain.delivery import CleanupReport, OutboxRow, Status
from core.domain.model import Channel, Identity, Partner, Profile
from core.events import ContactShared, Incoming, Start
from core.ports import LeaseFactory, Messenger
from core.services.cleanup import CleanupService
from core.services.delivery import DeliveryService, Report
from core.services.digest import DigestService
from tests.conftest import PARKS, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram, LocalAiohttpSession

TOKENS = {"mos": "111:AAA-mos", "spb": "222:BBB-spb"}
USERNAMES = {"mos": "mos_gortaxi_bot", "spb": "spb_taxi_bot"}
# Fast but real: pacing is on, just not at Telegram's pace, and backoff stays short so a
# test advancing the fake clock by BACKOFF_MAX is always past the next retry.
FAST = {
    "per_bot_rate": 500.0,
    "per_chat_interval_seconds": 0.0,
    "backoff_base_seconds": 1.0,
    "backoff_max_seconds": 8.0,
    "max_attempts": 5,
    "lease_seconds": 30,
}
BACKOFF_MAX = timedelta(seconds=9)

_users = itertools.count(700_000)
_phones = itertools.count(1_000)


def next_phone() -> str:
    return f"+7916{next(_phones):07d}"


@dataclass
class JobContext:
    """What `taxireg run` wires for alerts, built the same way from the container."""

    app: Container
    delivery: DeliveryService
    digests: DigestService
    cleanup: CleanupService
    messenger: TelegramMessenger
    session: LocalAiohttpSession

    @property
    def clock(self) -> Any:
        return self.app.clock

    async def aclose(self) -> None:
        await self.delivery.stop()
        await self.session.close()


@asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        for slug, token in TOKENS.items():
            server.add_bot(token, USERNAMES[slug])
        yield server


async def build_app(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    server: FakeTelegram,
    *,
    parks: Sequence[Mapping[str, Any]] = PARKS,
    registration: Mapping[str, Any] | None = None,
    **notify: Any,
) -> Container:
    """The app with ``parks``' bots on the fake server; ``notify`` on top of ``FAST``."""
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    more = {} if registration is None else {"registration": dict(registration)}
    settings = load_settings(
        None,
        data_dir=tmp_path,
        database={"url": database_url},
        parks=[{**park, "telegram_token": TOKENS[park["slug"]]} for park in parks],
        telegram={"api_server": server.base_url},
        notifications={**FAST, **notify},
        **more,
    )
    return await build(settings, clock=clock)


def make_bots(
    app: Container, request_timeout: float
) -> tuple[dict[str, Bot], LocalAiohttpSession]:
    """One Bot per park on one shared session, as the Telegram front end makes them."""
    api_server = app.settings.telegram.api_server
    assert api_server is not None
    # aiogram's own session minus its 250 ms sleep on close (see tests/fakes).
    session = LocalAiohttpSession(
        api=TelegramAPIServer.from_base(api_server), timeout=request_timeout
    )
    bots = {
        p.slug: Bot(p.telegram_token.get_secret_value(), session=session)
        for p in app.settings.parks
        if p.telegram_token is not None
    }
    return bots, session


def make_ctx(
    app: Container,
    *,
    request_timeout: float = 2.0,
    worker: str = "w1",
    messenger: Messenger | None = None,
    leases: LeaseFactory | None = None,
    takeover_pause: float | None = 0.0,
) -> JobContext:
    """The relay for tests: ``takeover_pause`` 0 skips the one-window wait after taking a
    bot's lease (a second per test otherwise); the pacing tests set it."""
    bots, session = make_bots(app, request_timeout)
    telegram = TelegramMessenger(bots)
    options = dataclasses.replace(
        delivery_options(app.settings.notifications), takeover_pause_seconds=takeover_pause
    )
    delivery = DeliveryService(
        db=app.db,
        messenger=messenger or telegram,
        catalog=app.catalog,
        parks=app.parks,
        clock=app.clock,
        options=options,
        worker=worker,
        leases=leases or app.leases,
    )
    return JobContext(app, delivery, build_digests(app), build_cleanup(app), telegram, session)


async def deliver_once(ctx: JobContext, now: datetime | None = None) -> Report:
    return await ctx.delivery.run(now)


async def digest_once(ctx: JobContext, park: str, now: datetime | None = None) -> int:
    return await ctx.digests.queue(park, now)


async def cleanup_once(ctx: JobContext, now: datetime | None = None) -> CleanupReport:
    return await ctx.cleanup.run(now)


async def say(app: Container, park: str, user_id: int, event: Any, name: str = "Пётр") -> None:
    who = Identity(Channel.TELEGRAM, str(user_id))
    conv = await app.registration.handle(
        Incoming(park, who, event, Profile(name, "ru"), event_id=next(_users))
    )
    assert conv is not None


async def linked_partner(
    app: Container, park: str = "mos", *, chat_id: int | None = None, name: str = "Анна"
) -> Partner:
    """A partner who opened the park's bot and shared their contact (core links the chat)."""
    phone = next_phone()
    partner = await app.admin.add_partner(park, phone, name)
    if chat_id is not None:
        await link(app, park, chat_id, phone)
    return partner


async def link(app: Container, park: str, chat_id: int, phone: str) -> None:
    await say(app, park, chat_id, Start())
    await say(app, park, chat_id, ContactShared(phone.lstrip("+"), own=True))


async def register_driver(
    app: Container,
    park: str,
    code: str,
    *,
    name: str = "Иван Петров",
    phone: str | None = None,
    user_id: int | None = None,
    tag: str | None = None,
) -> str:
    """A driver opens the bot by the partner's deep link and shares their contact."""
    phone = phone or next_phone()
    user_id = user_id or next(_users)
    await say(app, park, user_id, Start(code + (f"-{tag}" if tag else "")), name=name)
    await say(app, park, user_id, ContactShared(phone.lstrip("+"), own=True), name=name)
    return phone


async def outbox(app: Container, status: str | None = None, **filters: Any) -> list[OutboxRow]:
    state = Status(status) if status else None
    found = await app.db.run(lambda uow: uow.outbox.list(limit=100_000, status=state, **filters))
    return sorted(found, key=lambda r: r.id)


async def rows(ctx: JobContext, **filters: Any) -> list[OutboxRow]:
    return await outbox(ctx.app, **filters)


async def drain(ctx: JobContext, clock: FakeClock, *, passes: int = 40) -> Report:
    """Run passes, moving the fake clock past any backoff, until nothing is pending."""
    total = Report()
    for _ in range(passes):
        report = await deliver_once(ctx)
        total.sent += report.sent
        if not [r for r in await rows(ctx, status="pending") if r.hold is None]:
            return total
        clock.advance(seconds=BACKOFF_MAX.total_seconds())
    raise AssertionError(f"still pending after {passes} passes: {await rows(ctx)}")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


class Store:
    """The outbox port called from outside a unit of work, one transaction per call."""

    def __init__(self, app: Container) -> None:
        self.db = app.db

    async def claim(self, **kwargs: Any) -> list[OutboxRow]:
        return await self.db.run(lambda uow: uow.outbox.claim(**kwargs))

    async def record(self, outcomes: list[Any], worker: str) -> None:
        await self.db.run(lambda uow: uow.outbox.record(outcomes, worker))

    async def list(self, status: str | None = None, **kwargs: Any) -> list[OutboxRow]:
        state = Status(status) if status else None
        return await self.db.run(lambda uow: uow.outbox.list(status=state, **kwargs))

    async def get(self, row_id: int) -> OutboxRow | None:
        return await self.db.run(lambda uow: uow.outbox.get(row_id))

    async def counts(self) -> dict[Status, int]:
        return await self.db.run(lambda uow: uow.outbox.counts())

    async def requeue(self, row_id: int, now: datetime) -> OutboxRow | None:
        return await self.db.run(lambda uow: uow.outbox.requeue(row_id, now))
