"""The registration flow's rules on the in-memory store: the same services, milliseconds each.

The integration tests (tests/integration/test_registration_flow.py) run the flow on SQLite
and PostgreSQL; these pin each rule down on ``tests.fakes.memory_db``, and
test_memory_db_contract.py shows the fake and the real stores agree.
"""

from __future__ import annotations

import pytest

from core.domain.model import Channel, OwnerKind, Park, Source
from core.domain.registration import Step
from core.events import Pressed
from core.replies import Action
from tests.conftest import PARKS
from tests.fakes.clock import FakeClock
from tests.fakes.memory_db import MemoryApp, memory_app
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person

ASK_CODE = (
    "Введите реферальный код, если он у вас есть "
    '(нажмите кнопку "У меня нет реферального кода", если кода нет)'
)
NO_CODE = "У меня нет реферального кода"
DONE = "Регистрация завершена!"
PHONE = "+79161234567"
REDIRECT = (
    "Введённый промо-код не действует в этом боте. Для регистрации перейдите в бот @spb_taxi_bot"
)


@pytest.fixture
def app(clock: FakeClock, sms: RecordingSms) -> MemoryApp:
    return memory_app([Park(**p) for p in PARKS], clock, sms)  # type: ignore[arg-type]


def drivers(app: MemoryApp) -> list:  # type: ignore[type-arg]
    return list(app.db.state.drivers.values())


def person(app: MemoryApp, park: str = "mos", channel: Channel = Channel.TELEGRAM) -> Person:
    return Person(app, park, channel=channel)  # type: ignore[arg-type]


async def at_code_step(app: MemoryApp, park: str = "mos", phone: str = PHONE) -> Person:
    driver = person(app, park)
    await driver.start()
    assert await driver.share_contact(phone) == [ASK_CODE]
    return driver


async def test_deep_link_registers_without_asking(app: MemoryApp) -> None:
    partner = await app.admin.add_partner("mos", "+79160000001", "Иван")
    driver = person(app)
    await driver.start(f"{partner.code}-flyer")
    texts = await driver.share_contact(PHONE)
    assert ASK_CODE not in texts
    assert texts[0] == DONE
    [stored] = drivers(app)
    assert (stored.entered_code, stored.source, stored.source_tag) == (
        partner.code,
        Source.DEEP_LINK,
        "flyer",
    )
    assert (stored.referrer_kind, stored.referrer_id) == (OwnerKind.PARTNER, partner.id)
    [row] = app.db.state.outbox.values()
    assert (row.recipient_kind, row.recipient_id, row.key) == (
        OwnerKind.PARTNER,
        partner.id,
        f"driver_registered:{stored.id}",
    )


async def test_no_code_button(app: MemoryApp) -> None:
    driver = await at_code_step(app)
    assert driver.keyboard == [NO_CODE]
    assert (await driver.press(Action.NO_CODE))[0] == DONE
    [stored] = drivers(app)
    assert (stored.entered_code, stored.source) == (None, Source.NONE)
    assert app.db.state.outbox == {}


async def test_typed_code(app: MemoryApp) -> None:
    partner = await app.admin.add_partner("mos", "+79160000001", None)
    driver = await at_code_step(app)
    texts = await driver.say(f"  {partner.code.upper()} ")
    assert texts[:2] == [f"Реферальный код {partner.code} принят.", DONE]
    assert drivers(app)[0].source is Source.TYPED


async def test_code_of_another_park_redirects_verbatim(app: MemoryApp) -> None:
    foreign = await app.admin.add_partner("spb", "+79160000002", None)
    driver = await at_code_step(app)
    assert await driver.say(foreign.code) == [REDIRECT]
    assert driver.links == ["https://t.me/spb_taxi_bot"]
    assert drivers(app) == []
    assert (await driver.press(Action.NO_CODE))[0] == DONE
    assert drivers(app)[0].entered_code is None


async def test_deep_link_of_another_park_is_not_remembered(app: MemoryApp) -> None:
    foreign = await app.admin.add_partner("spb", "+79160000002", None)
    driver = person(app)
    assert REDIRECT in await driver.start(foreign.code)
    assert await driver.share_contact(PHONE) == [ASK_CODE]


async def test_own_code_is_refused(app: MemoryApp) -> None:
    driver = await at_code_step(app)
    partner = await app.admin.add_partner("mos", PHONE, "Иван")
    assert (await driver.say(partner.code))[0].startswith("Это ваш собственный")
    assert driver.keyboard == [NO_CODE]
    assert drivers(app) == []


async def test_deactivated_code_is_refused(app: MemoryApp) -> None:
    partner = await app.admin.add_partner("mos", "+79160000001", None)
    assert await app.admin.set_code_active(partner.code, False)
    driver = await at_code_step(app)
    assert (await driver.say(partner.code))[0].startswith("Этот реферальный код больше не")
    assert await app.admin.set_code_active(partner.code, True)
    assert (await driver.say(partner.code))[1] == DONE


async def test_cooldown_after_wrong_codes(app: MemoryApp, clock: FakeClock) -> None:
    driver = await at_code_step(app)
    for _ in range(4):
        assert (await driver.say("zzzz"))[0].startswith("Такого реферального кода нет")
    assert (await driver.say("zzzz"))[0].startswith(
        "Слишком много неверных кодов. Попробуйте снова через 10 мин."
    )
    partner = await app.admin.add_partner("mos", "+79160000001", None)
    assert (await driver.say(partner.code))[0].startswith("Слишком много неверных кодов")
    assert (await driver.say("Ω"))[0].startswith("Слишком много неверных кодов")
    clock.advance(minutes=10, seconds=1)
    assert (await driver.say(partner.code))[1] == DONE


async def test_junk_code_does_not_count_towards_cooldown(app: MemoryApp) -> None:
    driver = await at_code_step(app)
    for _ in range(10):
        assert (await driver.say("DROP TABLE;"))[0].startswith("Это не похоже")
    assert (await driver.say("zzzz"))[0].startswith("Такого реферального кода нет")


async def vk_at_otp(app: MemoryApp, phone: str = PHONE) -> Person:
    driver = person(app, channel=Channel.VK)
    await driver.start()
    assert (await driver.say(phone))[0].startswith("Мы отправили SMS")
    return driver


async def test_otp_wrong_then_right(app: MemoryApp, sms: RecordingSms) -> None:
    driver = await vk_at_otp(app)
    code = sms.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    assert (await driver.say(wrong))[0] == "Неверный код. Осталось попыток: 4."
    assert (await driver.say("12ab"))[0].startswith("Введите код из 6 цифр")
    assert await driver.say(f"{code[:3]}-{code[3:]}") == [ASK_CODE]


async def test_otp_expired(app: MemoryApp, sms: RecordingSms, clock: FakeClock) -> None:
    driver = await vk_at_otp(app)
    clock.advance(minutes=5, seconds=1)
    assert (await driver.say(sms.last_code()))[0].startswith("Срок действия кода истёк")
    clock.advance(seconds=60)
    await driver.press(Action.RESEND_SMS)
    assert await driver.say(sms.last_code()) == [ASK_CODE]


async def test_otp_locked(app: MemoryApp, sms: RecordingSms) -> None:
    driver = await vk_at_otp(app)
    code = sms.last_code()
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert (await driver.say(wrong))[0] == f"Неверный код. Осталось попыток: {left}."
    assert (await driver.say(wrong))[0].startswith("Слишком много неверных попыток")
    assert (await driver.say(code))[0].startswith("Слишком много неверных попыток")
    [conv] = app.db.state.conversations.values()
    assert conv.step is Step.OTP
    assert drivers(app) == []


async def test_sms_resend_pause_per_chat(
    app: MemoryApp, sms: RecordingSms, clock: FakeClock
) -> None:
    driver = await vk_at_otp(app)
    assert (await driver.press(Action.RESEND_SMS))[0].startswith("Новый код можно запросить")
    # Another number does not reset the chat's pause.
    assert (await driver.say("+79161112233"))[0].startswith("Новый код можно запросить")
    assert len(sms.sent) == 1
    clock.advance(seconds=61)
    await driver.press(Action.RESEND_SMS)
    assert len(sms.sent) == 2


async def test_sms_limit_per_phone_across_chats(
    app: MemoryApp, sms: RecordingSms, clock: FakeClock
) -> None:
    for _ in range(3):  # three codes to one number in ten minutes, from three chats
        await vk_at_otp(app)
        clock.advance(seconds=1)
    fourth = person(app, channel=Channel.VK)
    await fourth.start()
    texts = await fourth.say(PHONE)
    assert texts[0].startswith("Извините, на этот номер уже отправлено слишком много кодов")
    assert len(sms.sent) == 3
    # The limit is per number: another number from the same chat goes through.
    assert (await fourth.say("+79161112233"))[0].startswith("Мы отправили SMS")


async def test_sms_limit_per_chat(app: MemoryApp, sms: RecordingSms, clock: FakeClock) -> None:
    driver = person(app, channel=Channel.VK)
    await driver.start()
    texts: list[str] = []
    for n in range(6):  # different numbers: only the chat's own quota applies
        texts = await driver.say(f"+7916111{n:04d}")
        if n < 5:
            assert texts[0].startswith("Мы отправили SMS"), (n, texts)
            await driver.press(Action.CHANGE_PHONE)
        clock.advance(seconds=61)
    assert texts[0].startswith("Извините, из этого чата запрошено слишком много кодов")
    assert len(sms.sent) == 5


async def test_partner_is_linked_not_registered(app: MemoryApp) -> None:
    partner = await app.admin.add_partner("mos", PHONE, "Иван")
    me = person(app)
    await me.start()
    texts = await me.share_contact(PHONE)
    assert texts[0].startswith("Вы партнёр реферальной программы")
    assert partner.code in texts[1]
    assert app.db.state.partners[partner.id].telegram_chat_id == int(me.user_id)
    assert drivers(app) == []
    assert partner.code in (await me.command("code"))[0]


async def test_same_phone_in_two_channels_is_one_driver(app: MemoryApp, sms: RecordingSms) -> None:
    telegram = await at_code_step(app)
    await telegram.press(Action.NO_CODE)
    vk = await vk_at_otp(app)
    texts = await vk.say(sms.last_code(PHONE))
    assert texts[0].startswith("Этот номер уже зарегистрирован")
    [stored] = drivers(app)
    card = await app.admin.driver_card("mos", PHONE)
    assert {i.channel for i in card.identities} == {Channel.TELEGRAM, Channel.VK}
    assert stored.own_code in texts[1]


async def test_repeated_event_id_is_answered_and_applied_once(app: MemoryApp) -> None:
    driver = await at_code_step(app)
    await driver.press(Action.NO_CODE)
    again = await driver.send(Pressed(Action.NO_CODE), event_id=driver.event_id)
    # The first reply may have been lost to a crash: the repeat gets the code again.
    [code] = drivers(app)
    assert len(again) == 1
    assert code.own_code in again[0]


async def test_stale_buttons(app: MemoryApp) -> None:
    driver = person(app)
    await driver.start()
    assert (await driver.press(Action.NO_CODE))[0] == "Эта кнопка уже не действует."
    assert (await driver.press(Action.RESEND_SMS))[0] == "Эта кнопка уже не действует."
    assert drivers(app) == []


async def test_admin_sets_entered_code_with_audit(app: MemoryApp) -> None:
    driver = await at_code_step(app)
    await driver.press(Action.NO_CODE)
    partner = await app.admin.add_partner("mos", "+79160000001", None)
    foreign = await app.admin.add_partner("spb", "+79160000002", None)
    with pytest.raises(Exception, match="belongs to park spb"):
        await app.admin.set_entered_code("mos", PHONE, foreign.code, "op")
    card = await app.admin.set_entered_code("mos", PHONE, partner.code, "op")
    assert card.driver.entered_code == partner.code
    assert [(a.old, a.new, a.actor) for a in card.audit] == [(None, partner.code, "op")]


async def test_a_failed_transaction_leaves_nothing(app: MemoryApp) -> None:
    def half_done(uow):  # type: ignore[no-untyped-def]
        uow.codes.reserve("abcd", "mos", OwnerKind.DRIVER)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await app.db.run(half_done)
    assert "abcd" not in app.db.state.codes
    assert app.db.rollbacks == 1
