"""Shared setup for the notification tests: parks with bots on a fake Bot API, partners
linked through core, drivers registered through core, and a relay driven pass by pass."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer

from app.bootstrap import Container, build
from app.settings import load_settings
from core.domain.model import Channel, Identity, Partner, Profile
from core.events import ContactShared, Incoming, Start
from scheduler.delivery import Report
from scheduler.jobs import JobContext, deliver_once
from scheduler.telegram_sender import TelegramSender
from storage.outbox import OutboxRow
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


def local_session(api_server: str | None, timeout: float) -> BaseSession:
    # aiogram's own session minus its 250 ms sleep on close (see tests/fakes).
    assert api_server is not None
    return LocalAiohttpSession(api=TelegramAPIServer.from_base(api_server), timeout=timeout)


@asynccontextmanager
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        for slug, token in TOKENS.items():
            server.add_bot(token, USERNAMES[slug])
        yield server


async def build_app(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram, **notify: Any
) -> Container:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    parks = [{**park, "telegram_token": TOKENS[park["slug"]]} for park in PARKS]
    settings = load_settings(
        None,
        data_dir=tmp_path,
        database={"url": database_url},
        parks=parks,
        telegram={"api_server": server.base_url},
        notifications={**FAST, **notify},
    )
    return await build(settings, clock=clock)


def make_ctx(app: Container, *, request_timeout: float = 2.0, worker: str = "w1") -> JobContext:
    sender = TelegramSender.from_settings(
        app.settings, request_timeout=request_timeout, session_factory=local_session
    )
    return JobContext.from_container(app, sender=sender, worker=worker)


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


async def rows(ctx: JobContext, **filters: Any) -> list[OutboxRow]:
    return sorted(await ctx.store.list(limit=100_000, **filters), key=lambda r: r.id)


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
