"""Unexpected input, repeated deliveries, group chats and restarts: a hint, never a crash."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

import pytest

from core.events import Incoming
from core.replies import Action, Answer
from tests.bots.vk_harness import MOS, VkUser, VkWorld, texts
from tests.fakes import vk_updates
from tests.fakes.vk_updates import CHAT_PEER_OFFSET

pytest_plugins = ("tests.bots.vk_fixtures",)
pytestmark = pytest.mark.timeout(30)

PHONE = "+79161234567"
HUGE = "9" * 4096
_chats = itertools.count(CHAT_PEER_OFFSET + 1)


def t(vk: VkWorld, key: str, **args: object) -> str:
    return vk.container.catalog.text("ru", key, args)


async def poke(vk: VkWorld, user: VkUser, prompt: str, huge_hint: str) -> None:
    """Everything a user can send that is not what the step asks for."""
    unsupported = t(vk, "unsupported")
    peer = user.peer_id

    assert texts(await user.push(vk_updates.sticker(peer), 2)) == [unsupported, prompt]
    photo = vk_updates.photo(peer, text="вот мои права")
    assert texts(await user.push(photo, 2)) == [unsupported, prompt]
    # A button of a keyboard this bot no longer has.
    assert texts(await user.say("Старая кнопка", 2, payload={"action": "gone"})) == [
        t(vk, "stale-button"),
        prompt,
    ]
    assert texts(await user.say(HUGE)) == [huge_hint]

    # Group chats: the chat is told once to write privately; the user's state is untouched.
    chat = next(_chats)
    vk.fake.push_event(MOS, vk_updates.chat_message(chat, from_id=peer, text="+79161234567"))
    [private_only] = await vk.fake.wait_for_sent(chat, group_id=MOS)
    assert private_only.message == t(vk, "private-only")
    # An edit of an earlier message is ignored: nothing is sent for it.
    await user.push(vk_updates.message_edit(peer, "89161234567"), expect=0)


async def test_unexpected_input_at_every_step(vk: VkWorld) -> None:
    user = vk.user(701)
    await user.start()
    # phone
    ask_phone = t(vk, "phone-ask-typed")
    await poke(vk, user, ask_phone, t(vk, "phone-invalid"))
    assert texts(await user.say("89161234567")) == [t(vk, "otp-sent", phone=PHONE)]
    # SMS code
    otp_sent = t(vk, "otp-sent", phone=PHONE)
    await poke(vk, user, otp_sent, t(vk, "otp-not-digits"))
    assert texts(await user.say(vk.sms.last_code(PHONE))) == [t(vk, "ask-referral-code")]
    # referral code
    ask_code = t(vk, "ask-referral-code")
    await poke(vk, user, ask_code, t(vk, "code-junk"))
    done = await user.press(Action.NO_CODE, expect=2)
    assert texts(done)[0] == t(vk, "registered")
    # registered
    menu = t(vk, "menu")
    await poke(vk, user, menu, menu)
    [code] = await user.press(Action.MY_CODE)
    assert code.message == done[1].message

    assert len(vk.sms.sent) == 1  # nothing above sent another SMS
    assert [c for c in vk.fake.sent if c.peer_id == user.peer_id and not c.message] == []


async def test_button_of_another_step_repeats_the_question(vk: VkWorld) -> None:
    user = vk.user(702)
    await user.start()
    stale, prompt = await user.press(Action.NO_CODE, expect=2)
    assert stale.message == t(vk, "stale-button")
    assert prompt.message == t(vk, "phone-ask-typed")


async def test_repeated_delivery_changes_nothing_twice(vk: VkWorld) -> None:
    user = vk.user(703)
    await user.start()
    event = vk_updates.message_new(user.peer_id, "89161234567")
    [sent] = await user.push(event)
    assert sent.message == t(vk, "otp-sent", phone=PHONE)

    # VK delivers the same message again, as after a crash that may have cut the SMS off
    # after the commit: the step is not applied twice, but the code goes out anew (the
    # answer repeats the first one's random_id, so VK shows it once).
    await user.push(event, expect=0)
    [next_answer] = await user.say("abc")  # answered after the repeat: one peer, in order
    assert next_answer.message == t(vk, "otp-not-digits")
    assert len(vk.sms.sent) == 2

    assert texts(await user.say(vk.sms.last_code(PHONE))) == [t(vk, "ask-referral-code")]
    assert len(vk.sms.sent) == 2


async def test_quick_messages_are_answered_in_order(vk: VkWorld) -> None:
    # Pushed back to back they arrive in one long-poll answer and vkbottle handles each
    # in its own task; the user must still see the answers in order.
    peer = 704
    vk.fake.push_event(MOS, vk_updates.message_new(peer, "Начать", payload={"command": "start"}))
    vk.fake.push_event(MOS, vk_updates.message_new(peer, "89161234567"))
    vk.fake.push_event(MOS, vk_updates.message_new(peer, "abc"))

    sent = await vk.fake.wait_for_sent(peer, 4, group_id=MOS)

    assert texts(sent) == [
        t(vk, "welcome", park="Мос ГорТакси"),
        t(vk, "phone-ask-typed"),
        t(vk, "otp-sent", phone=PHONE),
        t(vk, "otp-not-digits"),
    ]


async def test_restart_mid_registration_resumes_at_the_same_step(vk: VkWorld) -> None:
    user = vk.user(705)
    await user.start()
    await user.say("89161234567")
    code = vk.sms.last_code(PHONE)

    await vk.restart()

    assert texts(await user.say(code)) == [t(vk, "ask-referral-code")]
    await vk.restart()
    done = await user.press(Action.NO_CODE, expect=2)
    assert texts(done)[0] == t(vk, "registered")


async def test_messages_sent_while_restarting_are_answered(
    vk: VkWorld, tmp_path: Path, cwd: Path
) -> None:
    user = vk.user(706)
    await user.start()
    await vk.stop()

    vk.fake.push_event(MOS, vk_updates.message_new(user.peer_id, "89161234567"))
    await vk.start()

    sent = await vk.fake.wait_for_sent(user.peer_id, 3, group_id=MOS)
    assert sent[-1].message == t(vk, "otp-sent", phone=PHONE)
    # The long-poll position lives in the database, not in a file here or in the data dir;
    # it is stored right after the replies went out.
    async with asyncio.timeout(5):
        while await vk.container.db.run(lambda uow: uow.cursors.get("vk:mos")) != "2":  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    assert os.listdir(cwd) == []
    assert not (tmp_path / "data" / "vk").exists()


async def test_failing_update_says_try_later_and_the_next_one_works(
    vk: VkWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    registration = vk.container.registration
    real = registration.handle

    async def database_down(incoming: Incoming) -> Answer:
        raise ConnectionError("database is down")

    monkeypatch.setattr(registration, "handle", database_down)
    user = vk.user(707)
    [sorry] = await user.start(expect=1)
    assert sorry.message == t(vk, "try-later")

    monkeypatch.setattr(registration, "handle", real)
    sent = await user.start()
    assert texts(sent) == [t(vk, "welcome", park="Мос ГорТакси"), t(vk, "phone-ask-typed")]
