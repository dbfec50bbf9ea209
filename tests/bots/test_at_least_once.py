"""At-least-once updates (issue 10 point 3), at the front ends' level.

Telegram's getUpdates offset and VK's long-poll position move past an update only after it
was handled (its unit of work committed, its reply sent). The front ends run for real
against the fake servers; behind core's ports are the in-memory doubles of
``frontend_doubles``, with a registration that can hold an update "mid-transaction".
The whole app under kill -9 is ``test_crash_redelivery``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from aiogram.utils.backoff import BackoffConfig

from bots.common.leadership import LeaseTiming
from bots.telegram.app import TelegramFrontEnd
from bots.telegram.options import TelegramOptions, TelegramPark
from bots.telegram.polling import PollingOptions
from bots.telegram.sender import RetryPolicy
from bots.vk.app import VkFrontEnd
from bots.vk.options import VkOptions, VkPark
from tests.bots.frontend_doubles import Gate, MemoryDatabase, MemoryLeases
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK

pytestmark = pytest.mark.timeout(30)

TOKEN = "4242:at-least-once-test-token"
VK_TOKEN = "vk-at-least-once-token"
GROUP = 1001
CURSOR = "vk:mos"


def telegram(fake: FakeTelegram, gate: Gate, leases: MemoryLeases) -> TelegramFrontEnd:
    options = TelegramOptions(
        parks=(TelegramPark("mos", TOKEN, "mos_gortaxi_bot"),),
        api_server=fake.base_url,
        polling=PollingOptions(
            polling_timeout=1,
            backoff=BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0.0),
            standby_interval=0.05,
            lease_check_interval=0.1,
            straggler_wait=0.1,
        ),
        retry=RetryPolicy(backoff=0.01),
        check_timeout=5.0,
        drain_timeout=0.2,
    )
    return TelegramFrontEnd(
        options, registration=gate, catalog=gate.catalog, leases=leases.for_process()
    )  # type: ignore[arg-type]


def vk(fake: FakeVK, gate: Gate, leases: MemoryLeases, db: MemoryDatabase) -> VkFrontEnd:
    options = VkOptions(
        parks=(VkPark("mos", GROUP, VK_TOKEN),),
        api_url=fake.api_url,
        retry_delay=0.01,
        restart_delay=0.05,
        stop_grace=0.2,
        check_timeout=5.0,
        lease=LeaseTiming(standby_interval=0.05, check_interval=0.1),
        fetch_names=False,
    )
    return VkFrontEnd(
        options,
        registration=gate,  # type: ignore[arg-type]
        catalog=gate.catalog,
        leases=leases.for_process(),
        db=db,
    )


async def eventually(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Wait for a state the front end reaches on its own (no event to wait on)."""
    try:
        async with asyncio.timeout(timeout):
            while not check():  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"not reached within {timeout} s: {what}") from None


async def next_poll(fake: FakeTelegram) -> dict[str, object]:
    count = len(fake.calls("getUpdates", token=TOKEN)) + 1
    polls = await fake.wait_for_requests("getUpdates", token=TOKEN, count=count, timeout=5)
    return polls[-1].params


def offsets(fake: FakeTelegram) -> list[object]:
    return [r.params.get("offset") for r in fake.calls("getUpdates", token=TOKEN)]


async def started(front: TelegramFrontEnd | VkFrontEnd, ready: Awaitable[object]) -> None:
    await front.start()
    await ready


# -- Telegram -------------------------------------------------------------------------------


async def test_telegram_offset_waits_for_an_update_in_hand() -> None:
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "mos_gortaxi_bot")
        gate, leases = Gate(), MemoryLeases()
        gate.held = {"slow"}
        front = telegram(fake, gate, leases)
        await started(front, fake.wait_for_requests("getUpdates", token=TOKEN))
        try:
            slow = fake.push_update(TOKEN, tg.message(11, "slow"))
            fast = fake.push_update(TOKEN, tg.message(12, "fast"))
            await fake.wait_for_sent(12, token=TOKEN)  # not held up by the slow one
            await next_poll(fake)
            await next_poll(fake)

            # Every poll so far confirmed nothing from the slow update on...
            assert all(o is None or o <= slow for o in offsets(fake)), offsets(fake)
            assert fake.pending(TOKEN) == 2
            # ...and the fast one, brought back by those polls, was handled once.
            assert gate.ids() == [fast]

            gate.open()
            await fake.wait_for_sent(11, token=TOKEN)
            await eventually(lambda: fake.pending(TOKEN) == 0, "both confirmed")
            assert (await next_poll(fake))["offset"] == fast + 1
            assert sorted(gate.ids()) == [slow, fast]
        finally:
            gate.open()
            await front.stop()


async def test_telegram_update_interrupted_by_a_stop_comes_again() -> None:
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "mos_gortaxi_bot")
        leases = MemoryLeases()
        first = Gate()
        first.held = {"slow"}
        front = telegram(fake, first, leases)
        await started(front, fake.wait_for_requests("getUpdates", token=TOKEN))
        done = fake.push_update(TOKEN, tg.message(21, "quick"))
        await fake.wait_for_sent(21, token=TOKEN)
        slow = fake.push_update(TOKEN, tg.message(22, "slow"))
        await eventually(lambda: slow in first.ids(started=True), "the slow update began")
        await front.stop()  # the drain gives up on it: cancelled, never confirmed

        assert first.ids() == [done]
        assert offsets(fake)[-1] == slow  # stop confirmed what was done, and no further
        assert fake.pending(TOKEN) == 1

        second = Gate()
        again = telegram(fake, second, leases)
        await started(again, fake.wait_for_requests("getUpdates", token=TOKEN))
        try:
            await fake.wait_for_sent(22, token=TOKEN)
            assert second.ids() == [slow]
        finally:
            await again.stop()
        assert fake.pending(TOKEN) == 0


# -- VK ---------------------------------------------------------------------------------------


async def test_vk_position_is_stored_only_after_the_updates_are_handled() -> None:
    async with FakeVK() as fake:
        fake.add_group(GROUP, VK_TOKEN, "mosgortaxi")
        leases, db = MemoryLeases(), MemoryDatabase()
        first = Gate()
        first.held = {"slow"}
        front = vk(fake, first, leases, db)
        await front.start()
        await fake.wait_polling(GROUP)
        fake.push_event(GROUP, vk_updates.message_new(71, "quick"))
        await fake.wait_for_sent(71, 1, group_id=GROUP)
        await eventually(lambda: db.cursors.get(CURSOR) == "1", "position after the first")

        fake.push_event(GROUP, vk_updates.message_new(72, "slow"))
        await eventually(lambda: len(first.started) == 2, "the slow update began")
        await front.stop()  # stop_grace runs out: the update is cancelled, nothing stored

        assert len(first.handled) == 1
        assert db.cursors[CURSOR] == "1"

        second = Gate()
        again = vk(fake, second, leases, db)
        await again.start()
        try:
            await fake.wait_for_sent(72, 1, group_id=GROUP)
            await eventually(lambda: db.cursors.get(CURSOR) == "2", "position after the second")
            assert [i.who.user_id for i in second.handled] == ["72"]
        finally:
            await again.stop()


async def test_vk_standby_takes_over_when_the_holder_stops() -> None:
    async with FakeVK() as fake:
        fake.add_group(GROUP, VK_TOKEN, "mosgortaxi")
        leases, db = MemoryLeases(), MemoryDatabase()
        one, two = Gate(), Gate()
        holder, standby = vk(fake, one, leases, db), vk(fake, two, leases, db)
        await holder.start()
        await fake.wait_polling(GROUP)
        await standby.start()
        try:
            await eventually(lambda: standby.status() == {"mos": "standby"}, "standing by")
            fake.push_event(GROUP, vk_updates.message_new(81, "first"))
            await fake.wait_for_sent(81, 1, group_id=GROUP)

            await holder.stop()
            await eventually(lambda: standby.status() == {"mos": "running"}, "taken over")
            fake.push_event(GROUP, vk_updates.message_new(82, "second"))
            await fake.wait_for_sent(82, 1, group_id=GROUP)
        finally:
            await standby.stop()

    assert [i.who.user_id for i in one.handled] == ["81"]
    assert [i.who.user_id for i in two.handled] == ["82"]  # nothing polled twice
