"""A running VK front end against FakeVK, built through the composition root.

Helpers here; the fixtures are in ``vk_fixtures`` (loaded by test modules with
``pytest_plugins``, so they cannot clash with another suite's conftest).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.bootstrap import Container, build
from app.runner import vk_front_end, vk_options
from app.settings import Settings, load_settings
from bots.common.leadership import LeaseTiming
from bots.vk.app import VkFrontEnd
from core.replies import Action
from tests.conftest import PARKS, reset_postgres
from tests.fakes import vk_updates
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fakes.vk_server import FakeVK, Sent

MOS, SPB = 1001, 2002
TOKENS = {"mos": "vk-token-mos-0123456789abcdef", "spb": "vk-token-spb-0123456789abcdef"}
SERVING = {"starting", "standby", "running", "restarting"}
# Fast retries: the product waits seconds, the tests must not.
FAST: dict[str, Any] = {
    "retry_delay": 0.01,
    "restart_delay": 0.05,
    "stop_grace": 2.0,
    "check_timeout": 5.0,
    "lease": LeaseTiming(standby_interval=0.05, check_interval=0.1),
}


def vk_settings(
    database_url: str,
    data_dir: Path,
    api_url: str,
    tokens: dict[str, str] | None = None,
    vk_options: dict[str, Any] | None = None,
) -> Settings:
    tokens = TOKENS if tokens is None else tokens
    parks = [{**park, "vk_token": tokens.get(str(park["slug"]))} for park in PARKS]
    return load_settings(
        None,
        data_dir=data_dir,
        database={"url": database_url},
        parks=parks,
        vk={"api_url": api_url, **(vk_options or {})},
    )


@dataclass
class VkWorld:
    fake: FakeVK
    settings: Settings
    clock: FakeClock
    sms: RecordingSms
    front_options: dict[str, Any]
    container: Container = field(init=False)
    front: VkFrontEnd = field(init=False)

    async def start(self) -> None:
        marks = {gid: self.fake.polls(gid) for gid in (MOS, SPB)}
        self.container = await build(self.settings, clock=self.clock, sms=self.sms)
        options = replace(vk_options(self.settings), **self.front_options)
        self.front = vk_front_end(self.container, options)
        await self.front.start()
        serving = {s for s, status in self.front.status().items() if status in SERVING}
        for slug, gid in (("mos", MOS), ("spb", SPB)):
            if slug in serving:
                await self.fake.wait_polling(gid, after=marks[gid])

    async def stop(self) -> None:
        await self.front.stop()
        await self.container.aclose()

    async def restart(self) -> None:
        """What a deploy does: stop everything, then build anew on the same database."""
        await self.stop()
        await self.start()

    def user(self, peer_id: int, group_id: int = MOS) -> VkUser:
        return VkUser(self, peer_id, group_id)


@dataclass
class VkUser:
    world: VkWorld
    peer_id: int
    group_id: int = MOS
    lang_id: int = 0

    @property
    def fake(self) -> FakeVK:
        return self.world.fake

    def received(self) -> list[Sent]:
        return self.fake.sent_to(self.peer_id, self.group_id)

    async def push(self, event: dict[str, Any], expect: int = 1) -> list[Sent]:
        """Deliver ``event`` and return the ``expect`` messages it was answered with.

        The bot answers one user's messages in order, so anything extra shows up at the
        start of the next call and fails that test.
        """
        before = len(self.received())
        self.fake.push_event(self.group_id, event)
        if expect == 0:
            return []
        sent = await self.fake.wait_for_sent(self.peer_id, before + expect, group_id=self.group_id)
        return sent[before:]

    async def say(self, text: str, expect: int = 1, **options: Any) -> list[Sent]:
        options.setdefault("lang_id", self.lang_id)
        return await self.push(vk_updates.message_new(self.peer_id, text, **options), expect)

    async def press(self, action: Action | str, label: str = "", expect: int = 1) -> list[Sent]:
        payload = {"action": str(action)}
        return await self.say(label or str(action), expect, payload=payload)

    async def start(self, expect: int = 2, **options: Any) -> list[Sent]:
        """VK's «Начать» button (what a user sees on opening the community's chat)."""
        return await self.say("Начать", expect, payload={"command": "start"}, **options)


def payloads(sent: Sent) -> list[dict[str, Any] | None]:
    return [json.loads(b["payload"]) if "payload" in b else None for b in sent.buttons]


def texts(sent: list[Sent]) -> list[str]:
    return [s.message for s in sent]


@contextlib.asynccontextmanager
async def vk_world(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    sms: RecordingSms,
    *,
    tokens: dict[str, str] | None = None,
    vk_options: Callable[[FakeVK], dict[str, Any]] | None = None,
    before_start: Callable[[FakeVK], object] | None = None,
    **front_options: Any,
) -> AsyncIterator[VkWorld]:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    async with FakeVK() as fake:
        fake.add_group(MOS, TOKENS["mos"], "mosgortaxi", "Мос ГорТакси")
        fake.add_group(SPB, TOKENS["spb"], None, "Питер Такси")
        settings = vk_settings(
            database_url,
            tmp_path / "data",
            fake.api_url,
            tokens,
            vk_options(fake) if vk_options else None,
        )
        world = VkWorld(fake, settings, clock, sms, {**FAST, **front_options})
        if before_start is not None:
            before_start(fake)
        await world.start()
        try:
            yield world
        finally:
            await world.stop()
