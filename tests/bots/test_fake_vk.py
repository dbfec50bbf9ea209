"""The fake VK server driven by a REAL vkbottle bot (plus a few direct protocol checks).

These tests also pin down vkbottle behaviour our VK adapter relies on: how the API
url is overridden, how errors surface, which failures the polling loop survives.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from vkbottle import API, Bot, Keyboard, Text, VKAPIError
from vkbottle.api.request_rescheduler import BlockingRequestRescheduler
from vkbottle.bot import Message
from vkbottle.http import AiohttpClient

from tests.fakes import vk_updates
from tests.fakes.vk_server import LONG_POLL, FakeVK

pytestmark = pytest.mark.timeout(15)

GROUP_A, TOKEN_A = 101, "token-a"
GROUP_B, TOKEN_B = 202, "token-b"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # BotPolling writes .vkbottle/bot-polling/<group>.json into the CWD after every
    # long poll (even with skip_old_events=True); keep that out of the repo.
    monkeypatch.chdir(tmp_path)


@pytest.fixture
async def fake() -> AsyncIterator[FakeVK]:
    async with FakeVK() as server:
        server.add_group(GROUP_A, TOKEN_A, "park_a")
        server.add_group(GROUP_B, TOKEN_B, "park_b")
        yield server


@dataclass
class EchoBot:
    bot: Bot
    seen: list[Message] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)
    error_seen: asyncio.Event = field(default_factory=asyncio.Event)


def make_bot(token: str, api_url: str, name: str = "echo") -> EchoBot:
    bot = Bot(token=token)
    # API.request() builds self.API_URL + method, so the instance attribute is enough
    # and other bots (and vkbottle's class default) are untouched.
    bot.api.API_URL = api_url
    # Own session instead of vkbottle's process-wide SingleAiohttpClient, so closing
    # it at teardown cannot pull the rug from under another bot.
    bot.api.http_client = AiohttpClient()
    # A non-JSON 5xx body makes vkbottle retry via this rescheduler, by default after
    # 5 s; keep the behaviour but not the wait.
    bot.api.request_rescheduler = BlockingRequestRescheduler(delay=0)
    echo = EchoBot(bot)

    @bot.on.message()
    async def answer(message: Message) -> None:
        echo.seen.append(message)
        keyboard = Keyboard(one_time=True).add(Text("Again", payload={"cmd": "again"}))
        await message.answer(f"{name}: {message.text}", keyboard=keyboard.get_json())

    @bot.error_handler.register_error_handler(VKAPIError)
    async def remember(error: Exception) -> None:
        echo.errors.append(error)
        echo.error_seen.set()

    return echo


@contextlib.asynccontextmanager
async def running(fake: FakeVK, echo: EchoBot, group_id: int) -> AsyncIterator[EchoBot]:
    """Run ``bot.run_polling()`` as a task of the test's loop; cancel it on exit."""
    task = asyncio.create_task(echo.bot.run_polling())
    try:
        await fake.wait_polling(group_id)
        yield echo
    finally:
        echo.bot.polling.stop()  # no new long poll after the current one...
        task.cancel()  # ...and don't wait up to `wait` s for the current one
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await echo.bot.api.http_client.close()


async def test_echo_answers_with_keyboard(fake: FakeVK) -> None:
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A):
        fake.push_event(GROUP_A, vk_updates.message_new(5001, "hello"))
        [sent] = await fake.wait_for_sent(5001)

    assert (sent.group_id, sent.peer_id, sent.message) == (GROUP_A, 5001, "echo: hello")
    assert sent.keyboard is not None
    assert sent.keyboard["one_time"] is True
    # vkbottle keeps a dict payload as a nested JSON object inside the keyboard JSON.
    assert sent.buttons == [{"type": "text", "label": "Again", "payload": {"cmd": "again"}}]
    assert sent.random_id == 0  # Message.answer() default; VK only dedups non-zero ids
    assert "peer_ids" in sent.params  # answer() sends peer_ids=[peer] and reads a list back


async def test_ref_ref_source_and_payload_reach_the_message(fake: FakeVK) -> None:
    event = vk_updates.message_new(
        5002, "Начать", ref="park42", ref_source="qr", payload={"cmd": "start"}, lang_id=3
    )
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A) as echo:
        fake.push_event(GROUP_A, event)
        await fake.wait_for_sent(5002)

    [message] = echo.seen
    assert (message.ref, message.ref_source) == ("park42", "qr")
    assert message.payload == '{"cmd": "start"}'  # a JSON *string*, as VK sends it
    assert message.get_payload_json() == {"cmd": "start"}
    assert message.client_info is not None
    assert message.client_info.lang_id == 3
    assert (message.group_id, message.from_id, message.peer_id) == (GROUP_A, 5002, 5002)


async def test_two_bots_in_one_process_are_kept_apart(fake: FakeVK) -> None:
    bot_a = make_bot(TOKEN_A, fake.api_url, name="A")
    bot_b = make_bot(TOKEN_B, fake.api_url, name="B")
    async with running(fake, bot_a, GROUP_A), running(fake, bot_b, GROUP_B):
        # Same user writes to both communities.
        fake.push_event(GROUP_B, vk_updates.message_new(7, "to b"))
        fake.push_event(GROUP_A, vk_updates.message_new(7, "to a"))
        await fake.wait_for_sent(7, count=2)

    assert [(s.group_id, s.message) for s in fake.sent_to(7, GROUP_A)] == [(GROUP_A, "A: to a")]
    assert [(s.group_id, s.message) for s in fake.sent_to(7, GROUP_B)] == [(GROUP_B, "B: to b")]
    assert [m.text for m in bot_a.seen] == ["to a"]
    assert [m.text for m in bot_b.seen] == ["to b"]


@pytest.mark.parametrize("code", [9, 901])
async def test_send_error_surfaces_as_vkapierror_and_polling_goes_on(
    fake: FakeVK, code: int
) -> None:
    fault = fake.inject("messages.send", group_id=GROUP_A, peer_id=6001, error_code=code)
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A) as echo:
        fake.push_event(GROUP_A, vk_updates.message_new(6001, "first"))
        async with asyncio.timeout(5):
            await echo.error_seen.wait()
        fake.push_event(GROUP_A, vk_updates.message_new(6002, "second"))
        [sent] = await fake.wait_for_sent(6002)

    assert fault.hits == 1
    assert fake.sent_to(6001) == []
    [error] = echo.errors
    assert isinstance(error, VKAPIError[code])
    assert error.code == code
    assert error.request_params["method"] == "messages.send"
    assert sent.message == "echo: second"


async def test_long_poll_http_500_is_survived(fake: FakeVK) -> None:
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A):
        # The parked poll is already past the fault check: the next two polls fail.
        fault = fake.inject(LONG_POLL, group_id=GROUP_A, http_status=500, times=2)
        fake.push_event(GROUP_A, vk_updates.message_new(8001, "before"))
        await fake.wait_for_sent(8001)
        fake.push_event(GROUP_A, vk_updates.message_new(8002, "after"))
        [sent] = await fake.wait_for_sent(8002)

    assert fault.hits == 2
    assert sent.message == "echo: after"


@pytest.mark.parametrize(
    "failure",
    [{"http_status": 500}, {"error_code": 10}],
    ids=["http-500", "vk-error-10"],
)
async def test_get_long_poll_server_failure_after_key_expiry_is_survived(
    fake: FakeVK, failure: dict[str, int]
) -> None:
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A):
        fault = fake.inject("groups.getLongPollServer", group_id=GROUP_A, **failure)
        fake.expire_key(GROUP_A)  # parked poll -> {"failed": 2} -> getLongPollServer
        fake.push_event(GROUP_A, vk_updates.message_new(8101, "after new key"))
        [sent] = await fake.wait_for_sent(8101)

    assert fault.hits == 1
    assert sent.message == "echo: after new key"
    # initial fetch, the failed one is not recorded, then the successful re-fetch
    assert len(fake.calls_to("groups.getLongPollServer", GROUP_A)) == 2


async def test_failed_1_and_3_from_long_poll_are_handled(fake: FakeVK) -> None:
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A):
        lost = fake.inject(LONG_POLL, group_id=GROUP_A, failed=3)
        outdated = fake.inject(LONG_POLL, group_id=GROUP_A, failed=1)
        mark = fake.polls(GROUP_A)
        fake.expire_key(GROUP_A)  # end the parked poll so the faults get their turn
        # failed 3/1 hand out a fresh ts: anything pushed before that is lost, as on VK.
        await fake.wait_polling(GROUP_A, after=mark)
        fake.push_event(GROUP_A, vk_updates.message_new(8201, "still here"))
        await fake.wait_for_sent(8201)

    assert (lost.hits, outdated.hits) == (1, 1)


async def test_startup_errors_end_run_polling(fake: FakeVK) -> None:
    # BasePolling.listen() fetches the first server outside its retry loop, so a
    # bad token - or any VK error at that moment - ends run_polling() with it.
    bad_token = make_bot("not-a-token", fake.api_url)
    with pytest.raises(VKAPIError[5], match="invalid access_token"):
        await asyncio.wait_for(bad_token.bot.run_polling(), 5)
    await bad_token.bot.api.http_client.close()

    fake.inject("groups.getLongPollServer", group_id=GROUP_A, error_code=10)
    unlucky = make_bot(TOKEN_A, fake.api_url)
    with pytest.raises(VKAPIError[10]):
        await asyncio.wait_for(unlucky.bot.run_polling(), 5)
    await unlucky.bot.api.http_client.close()


async def test_polling_persists_ts_in_cwd(fake: FakeVK, tmp_path: Path) -> None:
    async with running(fake, make_bot(TOKEN_A, fake.api_url), GROUP_A):
        mark = fake.polls(GROUP_A)
        fake.push_event(GROUP_A, vk_updates.message_new(8301, "x"))
        await fake.wait_for_sent(8301)
        await fake.wait_polling(GROUP_A, after=mark)  # the state is saved before re-polling

    state = tmp_path / ".vkbottle" / "bot-polling" / f"{GROUP_A}.json"
    assert json.loads(state.read_text()) == {"ts": "1"}


# ------------------------------------------------------- fake without a bot


@contextlib.asynccontextmanager
async def raw_api(fake: FakeVK, token: str) -> AsyncIterator[API]:
    api = API(token, http_client=AiohttpClient())
    api.API_URL = fake.api_url
    try:
        yield api
    finally:
        await api.http_client.close()


async def test_api_methods_parse_with_vkbottle_models(fake: FakeVK) -> None:
    fake.add_user(5, "Иван", "Петров")
    async with raw_api(fake, TOKEN_B) as api:
        groups = await api.groups.get_by_id()
        [user] = await api.users.get(user_ids=[5])
        assert await api.messages.set_activity(peer_id=5, type="typing") == 1
        assert await api.request("some.unknownMethod", {"x": 1}) == {"response": 1}
        message_id = await api.messages.send(peer_id=5, message="hi", random_id=77)
        again = await api.messages.send(peer_id=5, message="hi", random_id=77)

    assert [(g.id, g.screen_name) for g in groups.groups or []] == [(GROUP_B, "park_b")]
    assert (user.id, user.first_name, user.last_name) == (5, "Иван", "Петров")
    assert fake.calls_to("some.unknownMethod")[0].params["x"] == "1"
    # VK answers a repeated random_id with the first id and delivers nothing new.
    assert again == message_id
    assert [s.message_id for s in fake.sent_to(5, GROUP_B)] == [message_id]


async def test_api_errors_use_vk_envelope(fake: FakeVK) -> None:
    async with raw_api(fake, "wrong") as api:
        answer = await api.http_client.request_json(
            fake.api_url + "users.get",
            method="POST",
            data={"user_ids": "1"},
            params={"access_token": "wrong", "v": "5.199"},
        )
    assert answer["error"]["error_code"] == 5
    assert answer["error"]["error_msg"].startswith("User authorization failed")
    assert {"key": "user_ids", "value": "1"} in answer["error"]["request_params"]

    async with raw_api(fake, TOKEN_A) as api:
        too_long = Keyboard().add(Text("x" * 41)).get_json()
        with pytest.raises(VKAPIError[911]):
            await api.messages.send(peer_id=1, message="m", random_id=1, keyboard=too_long)
        with pytest.raises(VKAPIError[100]):
            await api.messages.send(peer_id=1, message="no random id")


async def test_long_poll_protocol(fake: FakeVK) -> None:
    lp = fake.long_poll_url(GROUP_A)
    async with raw_api(fake, TOKEN_A) as api:
        server = await api.groups.get_long_poll_server(group_id=GROUP_A)
    key, ts = server.key, server.ts
    assert (server.server, ts) == (lp, "0")

    async with aiohttp.ClientSession() as http:

        async def check(**params: str) -> dict[str, object]:
            query = {"act": "a_check", "key": key, "ts": ts, "wait": "0", **params}
            async with http.get(lp, params=query) as response:
                return await response.json()

        assert await check() == {"ts": "0", "updates": []}  # wait=0: answer at once
        assert await check(key="stale") == {"failed": 2}

        # A parked poll wakes on push instead of sitting out its `wait`.
        parked = asyncio.create_task(check(wait="60"))
        await fake.wait_polling(GROUP_A)
        first = fake.push_event(GROUP_A, vk_updates.message_new(1, "one"))
        async with asyncio.timeout(2):
            woke = await parked
        assert woke == {"ts": "1", "updates": [first]}
        assert first["group_id"] == GROUP_A

        second = fake.push_event(GROUP_A, vk_updates.message_new(1, "two"))
        assert await check(ts="0") == {"ts": "2", "updates": [first, second]}
        assert await check(ts="1") == {"ts": "2", "updates": [second]}


async def test_wait_for_sent_times_out_with_a_listing(fake: FakeVK) -> None:
    async with raw_api(fake, TOKEN_A) as api:
        await api.messages.send(peer_id=3, message="for three", random_id=0)
    with pytest.raises(TimeoutError, match="for three"):
        await fake.wait_for_sent(4, timeout=0.05)


def test_update_factories_parse_as_vkbottle_messages() -> None:
    from vkbottle.tools.mini_types.bot.message import message_min
    from vkbottle_types.events.bot_events import MessageEdit

    events = [
        vk_updates.message_new(1, "hi"),
        vk_updates.sticker(1),
        vk_updates.photo(1, text="licence"),
        vk_updates.chat_message(from_id=5, text="in chat"),
    ]
    parsed = [message_min({**e, "group_id": 1}, ctx_api=None) for e in events]  # type: ignore[arg-type]
    assert [m.text for m in parsed] == ["hi", "", "licence", "in chat"]
    assert [a.type.value for m in parsed[1:3] for a in m.attachments or []] == ["sticker", "photo"]
    assert (parsed[3].chat_id, parsed[3].from_id) == (1, 5)
    assert parsed[0].conversation_message_id < parsed[3].conversation_message_id

    edit = MessageEdit.from_dict({**vk_updates.message_edit(1, "fixed"), "group_id": 1})
    assert edit.object.text == "fixed"
