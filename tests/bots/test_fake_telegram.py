"""The fake Bot API server driven by a real aiogram 3 Dispatcher doing long polling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    CallbackQuery,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from aiogram.utils.backoff import BackoffConfig

from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram

TOKEN = "111:AAA-first"
OTHER_TOKEN = "222:BBB-second"
# aiogram's default polling backoff starts at 1 s; tests that fail getUpdates on purpose
# retry faster so the suite stays quick.
FAST_BACKOFF = BackoffConfig(min_delay=0.05, max_delay=0.2, factor=1.5, jitter=0.0)


@pytest.fixture
async def server() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "first_bot")
        fake.add_bot(OTHER_TOKEN, "second_bot")
        yield fake


def echo_dispatcher() -> Dispatcher:
    dp = Dispatcher()

    @dp.message(CommandStart())
    async def start(message: Message) -> None:
        keyboard = ReplyKeyboardMarkup(
            keyboard=[[KeyboardButton(text="Share phone", request_contact=True)]],
            resize_keyboard=True,
        )
        await message.answer("Send your phone", reply_markup=keyboard)

    @dp.message(F.text)
    async def echo(message: Message, bot: Bot) -> None:
        prefix = f"{bot.id}:" if bot.token == OTHER_TOKEN else ""
        await message.answer(prefix + (message.text or ""))

    @dp.callback_query()
    async def pressed(query: CallbackQuery) -> None:
        await query.answer("ok")

    return dp


def delivered_ids(server: FakeTelegram, token: str = TOKEN) -> list[int]:
    return [
        update["update_id"]
        for call in server.calls("getUpdates", token=token)
        for update in call.result or []
    ]


async def test_echo_reply_is_recorded_with_chat_and_text(server: FakeTelegram) -> None:
    bot = server.make_bot(TOKEN)
    async with server.polling(echo_dispatcher(), bot):
        server.push_update(TOKEN, tg.message(42, "привет"))
        [sent] = await server.wait_for_sent(42)

    assert sent["chat_id"] == 42
    assert sent["text"] == "привет"
    assert server.calls("getMe", token=TOKEN), "start_polling asks getMe first"


async def test_numeric_text_stays_a_string(server: FakeTelegram) -> None:
    # aiogram sends str fields raw and json-dumps everything else; "42" must not turn int.
    async with server.polling(echo_dispatcher(), server.make_bot(TOKEN)):
        server.push_update(TOKEN, tg.message(7, "42"))
        [sent] = await server.wait_for_sent(7)
    assert sent["text"] == "42"


async def test_reply_keyboard_is_parsed_from_json(server: FakeTelegram) -> None:
    async with server.polling(echo_dispatcher(), server.make_bot(TOKEN)):
        server.push_update(TOKEN, tg.message(42, "/start"))
        [sent] = await server.wait_for_sent(42)

    button = sent["reply_markup"]["keyboard"][0][0]
    assert button == {"text": "Share phone", "request_contact": True}
    assert sent["reply_markup"]["resize_keyboard"] is True


async def test_offset_confirms_updates_and_duplicates_need_a_second_push(
    server: FakeTelegram,
) -> None:
    async with server.polling(echo_dispatcher(), server.make_bot(TOKEN)):
        first = server.push_update(TOKEN, tg.message(1, "one"))
        await server.wait_for_sent(1)
        second = server.push_update(TOKEN, tg.message(2, "two"))
        await server.wait_for_sent(2)
        assert delivered_ids(server) == [first, second]
        # The poll that brought `second` carried offset first+1, confirming `first`.
        offsets = [call.params.get("offset") for call in server.calls("getUpdates")]
        assert first + 1 in offsets

        duplicate = tg.message(1, "one again")
        server.push_raw(TOKEN, {**duplicate, "update_id": first})
        await server.wait_for_sent(1, count=2)

    assert delivered_ids(server) == [first, second, first]
    assert [m["text"] for m in server.sent(chat_id=1)] == ["one", "one again"]


async def test_two_bots_in_one_dispatcher_get_their_own_updates(
    server: FakeTelegram,
) -> None:
    first, second = server.make_bot(TOKEN), server.make_bot(OTHER_TOKEN)
    async with server.polling(echo_dispatcher(), first, second):
        server.push_update(TOKEN, tg.message(10, "to first"))
        server.push_update(OTHER_TOKEN, tg.message(20, "to second"))
        await server.wait_for_sent(10, token=TOKEN)
        await server.wait_for_sent(20, token=OTHER_TOKEN)

    assert server.sent(token=TOKEN) == [{"chat_id": 10, "text": "to first"}]
    assert server.sent(token=OTHER_TOKEN) == [{"chat_id": 20, "text": "222:to second"}]


async def test_callback_query_id_is_kept_as_string(server: FakeTelegram) -> None:
    update = tg.callback_query(5, "yes")
    async with server.polling(echo_dispatcher(), server.make_bot(TOKEN)):
        server.push_update(TOKEN, update)
        [answered] = await server.wait_for_requests("answerCallbackQuery")
    assert answered.params == {
        "callback_query_id": update["callback_query"]["id"],
        "text": "ok",
    }


async def test_unknown_token_gets_401(server: FakeTelegram) -> None:
    url = f"{server.base_url}/bot999:nope/getMe"
    async with aiohttp.ClientSession() as http, http.post(url) as resp:
        assert resp.status == 401
        body = await resp.json()
    assert body == {"ok": False, "error_code": 401, "description": "Unauthorized"}

    stranger = server.make_bot("999:nope")
    async with stranger.session:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    # start_polling begins with getMe, so a wrong token fails fast instead of polling.
    with pytest.raises(TelegramUnauthorizedError):
        async with server.polling(echo_dispatcher(), server.make_bot("999:nope")):
            pass


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ({"status": 500}, TelegramServerError),
        ({"status": 403}, TelegramForbiddenError),
        ({"status": 400}, TelegramBadRequest),
    ],
)
async def test_injected_faults_become_aiogram_exceptions(
    server: FakeTelegram, fault: dict[str, Any], error: type[Exception]
) -> None:
    server.inject("sendMessage", token=TOKEN, **fault)
    bot = server.make_bot(TOKEN)
    async with bot.session:
        with pytest.raises(error):
            await bot.send_message(42, "hi")
        await bot.send_message(42, "hi")  # the fault was consumed, next call succeeds

    assert [r.status for r in server.calls("sendMessage")] == [fault["status"], 200]
    assert server.sent(chat_id=42) == [{"chat_id": 42, "text": "hi"}]


async def test_429_carries_retry_after(server: FakeTelegram) -> None:
    server.inject("sendMessage", status=429, retry_after=7, times=2)
    bot = server.make_bot(TOKEN)
    async with bot.session:
        for _ in range(2):
            with pytest.raises(TelegramRetryAfter) as caught:
                await bot.send_message(42, "hi")
            assert caught.value.retry_after == 7
        await bot.send_message(42, "hi")
    assert "retry after 7" in caught.value.message


async def test_delay_fault_makes_the_client_time_out(server: FakeTelegram) -> None:
    server.inject("getMe", delay=2.0)
    bot = server.make_bot(TOKEN)
    async with bot.session:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.get_me(request_timeout=0.2)  # type: ignore[arg-type]
        assert (await bot.get_me()).username == "first_bot"


async def test_polling_survives_get_updates_errors(server: FakeTelegram) -> None:
    # aiogram logs a failed getUpdates and retries after its backoff; it does not read
    # retry_after there, so a 429 on polling is retried on the backoff schedule.
    server.inject("getUpdates", status=500)
    server.inject("getUpdates", status=429, retry_after=30)
    bot = server.make_bot(TOKEN)
    async with server.polling(echo_dispatcher(), bot, backoff_config=FAST_BACKOFF):
        server.push_update(TOKEN, tg.message(3, "still alive"))
        await server.wait_for_sent(3, timeout=3.0)

    statuses = [r.status for r in server.calls("getUpdates")][:3]
    assert statuses == [500, 429, 200]


async def test_long_poll_wakes_on_push_and_honours_timeout(server: FakeTelegram) -> None:
    url = f"{server.base_url}/bot{TOKEN}/getUpdates"
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        started = loop.time()
        async with http.post(url, data={"timeout": "0"}) as resp:
            assert (await resp.json())["result"] == []
        assert loop.time() - started < 0.5

        poll = asyncio.create_task(http.post(url, data={"timeout": "30"}))
        await server.wait_for_requests("getUpdates", count=2)
        pushed = server.push_update(TOKEN, tg.message(1, "wake up"))
        async with asyncio.timeout(1.0):  # far below both timeout=30 and the 2 s cap
            resp = await poll
        [update] = (await resp.json())["result"]
        resp.release()
    assert update["update_id"] == pushed


async def test_a_second_poller_terminates_the_first_with_409(server: FakeTelegram) -> None:
    url = f"{server.base_url}/bot{TOKEN}/getUpdates"
    async with aiohttp.ClientSession() as http:
        first = asyncio.create_task(http.post(url, data={"timeout": "30"}))
        await server.wait_for_requests("getUpdates")
        second = asyncio.create_task(http.post(url, data={"timeout": "0"}))
        async with asyncio.timeout(1.0):
            first_resp, second_resp = await asyncio.gather(first, second)
        assert first_resp.status == 409
        assert second_resp.status == 200
        first_resp.release()
        second_resp.release()


@pytest.mark.parametrize(
    ("update", "event_type"),
    [
        (tg.message(1, "hi"), "message"),
        (tg.contact(1, "79001234567"), "message"),
        (tg.sticker(1), "message"),
        (tg.photo(1), "message"),
        (tg.voice(1), "message"),
        (tg.location(1), "message"),
        (tg.edited_message(1, "fixed"), "edited_message"),
        (tg.callback_query(1, "yes"), "callback_query"),
        (tg.group_message(1, -100123, "hi all"), "message"),
        (tg.channel_post(-100456, "news"), "channel_post"),
    ],
)
def test_factories_build_updates_aiogram_accepts(update: dict[str, Any], event_type: str) -> None:
    assert "update_id" not in update
    parsed = Update.model_validate({**update, "update_id": 1})
    assert parsed.event_type == event_type


def test_contact_defaults_to_the_senders_own_card() -> None:
    own = Update.model_validate({**tg.contact(5, "+79001234567"), "update_id": 1})
    forwarded = Update.model_validate(
        {**tg.contact(5, "+79001234567", contact_user_id=6), "update_id": 2}
    )
    assert own.message
    assert own.message.contact
    assert own.message.contact.user_id == 5
    assert forwarded.message
    assert forwarded.message.contact
    assert forwarded.message.contact.user_id == 6
