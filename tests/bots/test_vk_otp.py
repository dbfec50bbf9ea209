"""SMS one-time codes in VK: wrong, expired, locked, resent too early, resent."""

from __future__ import annotations

import pytest

from core.replies import Action
from tests.bots.vk_harness import VkUser, VkWorld, payloads, texts

pytest_plugins = ("tests.bots.vk_fixtures",)
pytestmark = pytest.mark.timeout(30)

PHONE = "+79161234567"
OTP_BUTTONS = [{"action": "resend_sms"}, {"action": "change_phone"}]


def t(vk: VkWorld, key: str, **args: object) -> str:
    return vk.container.catalog.text("ru", key, args)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def at_otp_step(vk: VkWorld, peer: int) -> VkUser:
    user = vk.user(peer)
    await user.start()
    [sent] = await user.say("89161234567")
    assert sent.message == t(vk, "otp-sent", phone=PHONE)
    return user


async def test_five_wrong_codes_lock_until_a_new_code(vk: VkWorld) -> None:
    user = await at_otp_step(vk, 601)
    code = vk.sms.last_code(PHONE)

    answers = [(await user.say(wrong(code)))[0] for _ in range(5)]

    assert texts(answers) == [
        *(t(vk, "otp-wrong", left=left) for left in (4, 3, 2, 1)),
        t(vk, "otp-locked"),
    ]
    assert all(payloads(a) == OTP_BUTTONS for a in answers)
    # Locked: even the right code is refused now.
    [still] = await user.say(code)
    assert still.message == t(vk, "otp-locked")

    vk.clock.advance(seconds=61)
    [resent] = await user.press(Action.RESEND_SMS, "Отправить код ещё раз")
    assert resent.message == t(vk, "otp-sent", phone=PHONE)
    assert len(vk.sms.sent) == 2
    [ask] = await user.say(vk.sms.last_code(PHONE))
    assert ask.message == t(vk, "ask-referral-code")


async def test_expired_code(vk: VkWorld) -> None:
    user = await at_otp_step(vk, 602)
    code = vk.sms.last_code(PHONE)
    vk.clock.advance(minutes=6)

    [expired] = await user.say(code)

    assert expired.message == t(vk, "otp-expired")
    assert expired.labels == ["Отправить код ещё раз", "Изменить номер"]
    [resent] = await user.press(Action.RESEND_SMS)
    assert resent.message == t(vk, "otp-sent", phone=PHONE)
    assert len(vk.sms.sent) == 2
    [ask] = await user.say(vk.sms.last_code(PHONE))
    assert ask.message == t(vk, "ask-referral-code")


async def test_resend_too_early_then_after_the_cooldown(vk: VkWorld) -> None:
    user = await at_otp_step(vk, 603)
    vk.clock.advance(seconds=20)

    [wait] = await user.press(Action.RESEND_SMS)

    assert wait.message == t(vk, "otp-resend-wait", seconds=40)
    assert payloads(wait) == OTP_BUTTONS
    assert len(vk.sms.sent) == 1

    vk.clock.advance(seconds=41)
    [resent] = await user.press(Action.RESEND_SMS)
    assert resent.message == t(vk, "otp-sent", phone=PHONE)
    assert len(vk.sms.sent) == 2


async def test_change_phone_button(vk: VkWorld) -> None:
    user = await at_otp_step(vk, 604)
    [ask] = await user.press(Action.CHANGE_PHONE)
    assert ask.message == t(vk, "phone-ask-typed")
    # The resend pause holds for any number a chat asks for (SMS pumping, issue 10).
    [wait] = await user.say("+7 (926) 000-11-22")
    assert wait.message == t(vk, "sms-wait-chat", unit="minutes", amount=1)
    assert len(vk.sms.sent) == 1

    vk.clock.advance(seconds=61)
    [sent] = await user.say("+7 (926) 000-11-22")
    assert sent.message == t(vk, "otp-sent", phone="+79260001122")
    assert vk.sms.sent[-1][0] == "+79260001122"


async def test_not_a_phone_and_not_a_code(vk: VkWorld) -> None:
    user = vk.user(605)
    await user.start()
    [invalid] = await user.say("мой номер скажу потом")
    assert invalid.message == t(vk, "phone-invalid")
    [sent] = await user.say("8 916 123 45 67")
    assert sent.message == t(vk, "otp-sent", phone=PHONE)
    [junk] = await user.say("abc")
    assert junk.message == t(vk, "otp-not-digits")
