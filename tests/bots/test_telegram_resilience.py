"""Restarts, repeated updates, wrong tokens, Telegram errors, groups and stale buttons."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.events import Incoming
from core.replies import Answer
from tests.bots.telegram_harness import (
    ASK_CODE,
    ASK_CONTACT,
    MOS_TOKEN,
    NO_CODE,
    REGISTERED,
    SPB_TOKEN,
    World,
    running_world,
    texts,
)
from tests.fakes import telegram_updates as tg

PHONE = "79161234567"


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(database_url, tmp_path) as world:
        yield world


def send_calls(world: World, chat_id: int) -> list[int | None]:
    """Statuses of every sendMessage attempt to ``chat_id``, failed ones included."""
    return [r.status for r in world.fake.calls("sendMessage", chat_id=chat_id)]


async def test_restart_mid_registration_continues_where_the_user_was(world: World) -> None:
    driver = world.chat()
    await driver.start()
    [ask] = await driver.share_contact(PHONE)
    assert ask["text"] == ASK_CODE

    # Stop the front end, close the database, build everything again on the same file.
    await world.stop()
    assert world.fake.pending(MOS_TOKEN) == 0, "handled updates are confirmed on stop"
    await world.start()

    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)


async def test_the_same_update_twice_registers_once(world: World) -> None:
    driver = world.chat()
    await driver.start()
    await driver.share_contact(PHONE)
    no_code = {**driver.message(NO_CODE), "update_id": 10_000}

    [done] = await driver.send(no_code, raw=True)
    assert done["text"].startswith(REGISTERED)
    # Delivered again (after a crash the reply may never have gone out): answered with the
    # driver's code, not registered a second time.
    again = await driver.send(no_code, raw=True)

    assert sum(REGISTERED in text for text in texts(world.fake.sent())) == 1
    card = await world.container.admin.driver_card("mos", "+" + PHONE)
    assert card.driver.own_code in done["text"]
    assert [card.driver.own_code in text for text in texts(again)] == [True]


async def test_a_wrong_token_turns_off_only_its_park(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "999:WRONG-token-that-the-fake-does-not-know"
    caplog.set_level(logging.INFO)
    async with running_world(
        database_url, tmp_path, tokens={"mos": MOS_TOKEN, "spb": wrong}
    ) as world:
        assert world.front is not None
        assert list(world.front.bots) == ["mos"]
        driver = world.chat("mos")
        await driver.start()
        await driver.share_contact(PHONE)
        [done] = await driver.say(NO_CODE)
        assert done["text"].startswith(REGISTERED)

    [refused] = [r for r in caplog.records if "rejected the bot token" in r.getMessage()]
    assert refused.levelno == logging.ERROR
    assert "park spb" in refused.getMessage()
    assert getattr(refused, "park", None) == "spb"
    assert all(wrong not in r.getMessage() for r in caplog.records)
    assert all(MOS_TOKEN not in r.getMessage() for r in caplog.records)
    assert world.fake.calls("getUpdates", token=wrong) == []


async def test_a_malformed_token_is_reported_by_park(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_world(
        database_url, tmp_path, tokens={"mos": MOS_TOKEN, "spb": "not a token"}
    ) as world:
        assert world.front is not None
        assert list(world.front.bots) == ["mos"]
    assert any("park spb: telegram_token is not a bot token" in m for m in caplog.messages)


async def test_group_messages_get_the_private_only_hint(world: World) -> None:
    group = -100_123
    await world.push(MOS_TOKEN, tg.group_message(600_001, group, "/start"))
    await world.push(MOS_TOKEN, tg.group_message(600_001, group, "всем привет"))  # chatter
    await world.push(MOS_TOKEN, tg.group_message(600_001, group, "@mos_gortaxi_bot код?"))
    assert texts(world.fake.sent(chat_id=group)) == ["Напишите мне в личные сообщения."] * 2
    assert world.fake.sent(chat_id=600_001) == []


async def test_a_stale_inline_button_is_answered_with_the_current_step(world: World) -> None:
    driver = world.chat()
    await driver.start()
    press = tg.callback_query(driver.user_id, "old-button", bot_id=111)
    [hint] = await driver.send(press)
    [answered] = world.fake.calls("answerCallbackQuery")
    assert answered.params["callback_query_id"] == press["callback_query"]["id"]
    assert hint["text"] == f"Эта кнопка уже не действует.\n\n{ASK_CONTACT}"
    [ask] = await driver.share_contact(PHONE)
    assert ask["text"] == ASK_CODE


async def test_a_user_who_blocked_the_bot_costs_one_call(world: World) -> None:
    spb_partner = await world.container.admin.add_partner("spb", "+79160000003", None)
    blocker = world.chat()
    world.fake.inject("sendMessage", token=MOS_TOKEN, status=403)
    # Two messages would answer this deep link; the 403 on the first drops the second.
    assert await blocker.start(spb_partner.code) == []
    assert send_calls(world, blocker.user_id) == [403]

    other = world.chat()
    [hello] = await other.start()
    assert hello["text"].endswith(ASK_CONTACT)
    # Unblocked later: the conversation went on, so the contact is taken.
    [ask] = await blocker.share_contact(PHONE)
    assert ask["text"] == ASK_CODE
    assert send_calls(world, blocker.user_id) == [403, 200]


async def test_server_errors_are_retried_a_little(world: World) -> None:
    driver = world.chat()
    world.fake.inject("sendMessage", token=MOS_TOKEN, status=500, times=2)
    [hello] = await driver.start()
    assert hello["text"].endswith(ASK_CONTACT)
    assert send_calls(world, driver.user_id) == [500, 500, 200]

    world.fake.inject("sendMessage", token=MOS_TOKEN, status=502, times=3)
    assert await driver.say("/help") == []
    assert send_calls(world, driver.user_id)[3:] == [502, 502, 502]  # then dropped


async def test_flood_control_waits_briefly_or_drops(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    driver = world.chat()
    world.fake.inject("sendMessage", token=MOS_TOKEN, status=429, retry_after=1)
    [hello] = await driver.start()
    assert hello["text"].endswith(ASK_CONTACT)
    assert send_calls(world, driver.user_id) == [429, 200]

    world.fake.inject("sendMessage", token=MOS_TOKEN, status=429, retry_after=60)
    assert await driver.say("/help") == []
    assert send_calls(world, driver.user_id) == [429, 200, 429]
    assert "reply dropped: rate limited by Telegram" in caplog.messages


async def test_an_unexpected_error_gets_try_later_and_a_log_line(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    driver = world.chat()
    await driver.start()

    async def broken(incoming: Incoming) -> Answer:
        raise RuntimeError("database on fire")

    with monkeypatch.context() as patch:
        patch.setattr(world.container.registration, "handle", broken)
        [sorry] = await driver.share_contact(PHONE)
    assert sorry["text"] == "Что-то пошло не так. Попробуйте ещё раз через минуту."
    assert "reply_markup" not in sorry
    [failed] = [r for r in caplog.records if r.getMessage() == "update failed"]
    assert failed.park == "mos"  # type: ignore[attr-defined]
    assert failed.phone == "+7 *** ***-45-67"  # type: ignore[attr-defined]
    assert failed.exc_info is not None

    [ask] = await driver.share_contact(PHONE)  # the next try works
    assert ask["text"] == ASK_CODE


async def test_one_users_quick_messages_are_handled_in_order(world: World) -> None:
    driver = world.chat()
    await driver.start()
    # Contact and the no-code button in one getUpdates batch: two concurrent tasks.
    world.fake.push_update(MOS_TOKEN, tg.contact(driver.user_id, PHONE))
    [ask, done] = await driver.say(NO_CODE)
    assert ask["text"] == ASK_CODE
    assert done["text"].startswith(REGISTERED)


async def test_many_users_at_once(world: World) -> None:
    users = [world.chat("mos" if i % 2 else "spb") for i in range(20)]
    await asyncio.gather(*(user.start() for user in users))
    await asyncio.gather(*(user.share_contact(f"7916555{i:04d}") for i, user in enumerate(users)))
    answers = await asyncio.gather(*(user.say(NO_CODE) for user in users))
    assert all(REGISTERED in done["text"] for [done] in answers)
    assert len(world.fake.sent(SPB_TOKEN)) == 3 * 10
    assert len(world.fake.sent(MOS_TOKEN)) == 3 * 10


async def test_telegram_down_at_start_and_while_polling_heals(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running_world(database_url, tmp_path, tokens={"mos": MOS_TOKEN}) as world:
        driver = world.chat()
        polls = len(world.fake.calls("getUpdates", token=MOS_TOKEN))
        world.fake.inject("getUpdates", token=MOS_TOKEN, status=502, times=3)
        # After the poll in flight, three polls fail and the fourth is waiting.
        await world.fake.wait_for_requests("getUpdates", token=MOS_TOKEN, count=polls + 4)
        statuses = [r.status for r in world.fake.calls("getUpdates", token=MOS_TOKEN)]
        assert statuses[polls:] == [502, 502, 502, None]
        [hello] = await driver.start()
        assert hello["text"].endswith(ASK_CONTACT)

        # A fresh start while getMe fails: the park is not given up, it polls once it can.
        await world.stop()
        world.fake.inject("getMe", token=MOS_TOKEN, status=500, times=4)
        await world.start()
        [ask] = await driver.share_contact(PHONE)
        assert ask["text"] == ASK_CODE

    failures = [m for m in caplog.messages if m.startswith("polling failed")]
    assert len(failures) == 2, "one warning per outage, not one per retry"
