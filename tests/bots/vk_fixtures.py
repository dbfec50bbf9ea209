"""Fixtures for the VK front-end tests: ``pytest_plugins = ("tests.bots.vk_fixtures",)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bots.vk_harness import VkWorld, vk_world
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty current directory: the bot must not write into it."""
    path = tmp_path / "cwd"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


@pytest.fixture
async def vk(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms, cwd: Path
) -> AsyncIterator[VkWorld]:
    async with vk_world(database_url, tmp_path, clock, sms) as world:
        yield world
