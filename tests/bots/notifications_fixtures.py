"""Fixtures for the notification tests, loaded with ``pytest_plugins``.

A fake Bot API server, the app built against it (the ``database_url`` backends of
tests/conftest.py) and a relay context; a module overrides one of them where it needs to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from app.bootstrap import Container
from tests.bots.notifications_env import JobContext, build_app, fake_telegram, make_ctx
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_server import FakeTelegram


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with fake_telegram() as fake:
        yield fake


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, server: FakeTelegram
) -> AsyncIterator[Container]:
    container = await build_app(database_url, tmp_path, clock, server)
    try:
        yield container
    finally:
        await container.aclose()


@pytest.fixture
async def ctx(app: Container) -> AsyncIterator[JobContext]:
    context = make_ctx(app)
    try:
        yield context
    finally:
        await context.aclose()
