"""The whole registration flow in core, on the real store (SQLite; PostgreSQL when configured)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.bootstrap import Container
from core.domain.model import Channel, OwnerKind, Source
from core.events import Pressed, Text
from core.replies import Action
from storage import tables as t
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person

ASK_CODE = (
    "Введите реферальный код, если он у вас есть "
    '(нажмите кнопку "У меня нет реферального кода", если кода нет)'
)
NO_CODE = "У меня нет реферального кода"
PHONE = "+79161234567"


async def count(app: Container, table: t.Table) -> int:
    return await app.db.run_on_connection(
        lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()
    )


async def outbox_rows(app: Container) -> list[dict[str, object]]:
    return await app.db.run_on_connection(
        lambda conn: [
            dict(row._mapping) for row in conn.execute(select(t.outbox).order_by(t.outbox.c.id))
        ]
    )


async def registered(app: Container, person: Person, phone: str = PHONE) -> str:
    """Register through Telegram without a code; returns the driver's own code."""
    await person.start()
    await person.share_contact(phone)
    await person.press(Action.NO_CODE)
    card = await app.admin.driver_card(person.park, phone)
    return card.driver.own_code


async def test_deep_link_registration_asks_no_code(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+7 916 000-00-01", "Иван")
    driver = Person(container, "mos")

    texts = await driver.start(f"{partner.code}-flyer")
    assert any(partner.code in text for text in texts)
    assert driver.keyboard == ["Отправить номер телефона"]

    texts = await driver.share_contact("79161234567")
    assert ASK_CODE not in texts
    assert texts[0] == "Регистрация завершена!"
    card = await container.admin.driver_card("mos", PHONE)
    assert texts[1] == (
        f"Ваш реферальный код: {card.driver.own_code}\n"
        "Ссылки для регистрации в приложениях и ботах: "
        f"https://mos-gortaxi.ru/ref?code={card.driver.own_code}"
    )
    assert card.driver.entered_code == partner.code
    assert card.driver.referrer_kind is OwnerKind.PARTNER
    assert card.driver.referrer_id == partner.id
    assert card.driver.source is Source.DEEP_LINK
    assert card.driver.source_tag == "flyer"
    assert card.driver.name == "Пётр"
    assert card.referrer_name == "Иван"
    assert driver.keyboard == ["Мой реферальный код", "Мои бонусы"]

    [event] = await outbox_rows(container)
    assert event["kind"] == "driver_registered"
    assert (event["recipient_kind"], event["recipient_id"]) == ("partner", partner.id)
    assert event["payload"]["phone"] == PHONE  # type: ignore[index]
    assert event["status"] == "pending"


async def test_typed_code_after_phone(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+79160000001", None)
    driver = Person(container, "mos")
    await driver.start()
    assert await driver.share_contact(PHONE) == [ASK_CODE]
    assert driver.keyboard == [NO_CODE]

    texts = await driver.say(f"  «{partner.code.upper()}» ")
    assert texts[0] == f"Реферальный код {partner.code} принят."
    assert texts[1] == "Регистрация завершена!"
    card = await container.admin.driver_card("mos", PHONE)
    assert (card.driver.entered_code, card.driver.source) == (partner.code, Source.TYPED)
    assert len(await outbox_rows(container)) == 1


async def test_no_code_button_registers_without_referrer(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    texts = await driver.say(NO_CODE)  # a reply keyboard sends the label as text
    assert texts[0] == "Регистрация завершена!"
    card = await container.admin.driver_card("mos", PHONE)
    assert card.driver.entered_code is None
    assert card.driver.referrer_id is None
    assert card.driver.source is Source.NONE
    assert await outbox_rows(container) == []


async def test_code_of_another_park_redirects_to_its_bot(container: Container) -> None:
    foreign = await container.admin.add_partner("spb", "+79160000002", None)
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    texts = await driver.say(foreign.code)
    assert texts == [
        "Введённый промо-код не действует в этом боте. "
        "Для регистрации перейдите в бот @spb_taxi_bot"
    ]
    assert driver.links == ["https://t.me/spb_taxi_bot"]
    assert await count(container, t.drivers) == 0
    # Still at the code step: the button works.
    assert (await driver.press(Action.NO_CODE))[0] == "Регистрация завершена!"


async def test_deep_link_of_another_park_redirects_at_start(container: Container) -> None:
    foreign = await container.admin.add_partner("spb", "+79160000002", None)
    driver = Person(container, "mos")
    texts = await driver.start(foreign.code)
    assert any("перейдите в бот @spb_taxi_bot" in text for text in texts)
    await driver.share_contact(PHONE)
    assert driver.texts == [ASK_CODE]  # the foreign code is not remembered


async def test_vk_redirect_links_the_other_parks_community(container: Container) -> None:
    foreign = await container.admin.add_partner("mos", "+79160000002", None)
    driver = Person(container, "spb", channel=Channel.VK)
    await driver.start()
    await driver.say("8 916 123-45-67")
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    await driver.say(sms.last_code(PHONE))
    texts = await driver.say(foreign.code)
    assert "@mos_gortaxi_bot" in texts[0]
    assert driver.links == ["https://t.me/mos_gortaxi_bot", "https://vk.me/mosgortaxi"]


async def test_unknown_code_then_cooldown_after_five(
    container: Container, clock: FakeClock
) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    for _ in range(4):
        texts = await driver.say("zzzz")
        assert texts[0].startswith("Такого реферального кода нет")
    texts = await driver.say("zzzz")
    assert texts[0].startswith("Слишком много неверных кодов. Попробуйте снова через 10 мин.")
    partner = await container.admin.add_partner("mos", "+79160000001", None)
    # Even a valid code is refused during the cooldown...
    assert (await driver.say(partner.code))[0].startswith("Слишком много неверных кодов")
    # ...but the no-code path is never blocked.
    clock.advance(minutes=10, seconds=1)
    assert (await driver.say(partner.code))[0] == f"Реферальный код {partner.code} принят."


async def test_failures_outside_the_window_do_not_add_up(
    container: Container, clock: FakeClock
) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    for _ in range(4):
        await driver.say("zzzz")
    clock.advance(minutes=11)
    assert (await driver.say("zzzz"))[0].startswith("Такого реферального кода нет")


async def test_own_code_is_refused(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    # The park adds this very person as a partner while they are at the code step.
    partner = await container.admin.add_partner("mos", PHONE, "Иван")
    texts = await driver.say(partner.code)
    assert texts[0].startswith("Это ваш собственный реферальный код")
    assert driver.keyboard == [NO_CODE]
    assert await count(container, t.drivers) == 0


async def test_partner_of_another_park_is_told_their_bot(container: Container) -> None:
    await container.admin.add_partner("mos", PHONE, "Иван")
    driver = Person(container, "spb")
    await driver.start()
    texts = await driver.share_contact(PHONE)
    assert (
        texts[0]
        == "Ваш номер записан как партнёр таксопарка «Мос ГорТакси». Ваш бот: @mos_gortaxi_bot."
    )
    assert driver.links == ["https://t.me/mos_gortaxi_bot"]
    assert texts[-1] == ASK_CODE  # and may still register here as a driver


async def test_same_phone_as_code_owner_is_refused(container: Container) -> None:
    owner = Person(container, "mos")
    code = await registered(container, owner)
    # The same person in VK: their phone is already a driver, so they are linked instead.
    same = Person(container, "mos", channel=Channel.VK)
    await same.start(code)
    await same.say(PHONE)
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    texts = await same.say(sms.last_code(PHONE))
    assert texts[0].startswith("Этот номер уже зарегистрирован")
    assert code in texts[1]
    assert await count(container, t.drivers) == 1


async def test_deactivated_code_is_refused(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+79160000001", None)
    assert await container.admin.set_code_active(partner.code, False)
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    texts = await driver.say(partner.code)
    assert texts[0].startswith("Этот реферальный код больше не действует")


async def test_junk_at_the_code_step_changes_nothing(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    for junk in ["😀😀😀", "x" * 10_000, "DROP TABLE drivers;", "", "/unknown"]:
        texts = await driver.say(junk)
        assert texts, junk
        assert not any("Регистрация завершена" in text for text in texts)
    assert (await driver.unsupported("sticker"))[0] == "Я понимаю только текст и кнопки."
    assert driver.texts[-1] == ASK_CODE
    assert await count(container, t.drivers) == 0
    assert (await driver.press(Action.NO_CODE))[0] == "Регистрация завершена!"


async def test_telegram_contact_rules(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    texts = await driver.share_contact("+79169999999", own=False)
    assert texts == [
        "Это чужой контакт. Отправьте свой номер кнопкой «Отправить номер телефона» ниже."
    ]
    texts = await driver.say("+7 916 123-45-67")
    assert "кнопкой «Отправить номер телефона»" in texts[0]
    assert driver.keyboard == ["Отправить номер телефона"]
    texts = await driver.share_contact("+12025550143")
    assert texts[0].startswith("Этот номер не подходит")
    assert await driver.share_contact(PHONE) == [ASK_CODE]


async def test_buttons_and_commands_out_of_order(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    # The no-code button before the phone: the phone is still asked for.
    texts = await driver.press(Action.NO_CODE)
    assert texts[-1].startswith("Для регистрации подтвердите номер телефона")
    texts = await driver.command("code")
    assert texts[0] == "Вы ещё не зарегистрированы. Давайте закончим регистрацию."
    await driver.share_contact(PHONE)
    await driver.press(Action.NO_CODE)
    code = (await container.admin.driver_card("mos", PHONE)).driver.own_code
    assert code in (await driver.command("code"))[0]
    assert code in (await driver.say("Мой реферальный код"))[0]
    assert code in (await driver.start())[-1]  # /start again: the menu, not a new registration
    assert await count(container, t.drivers) == 1


async def test_sms_confirmation(container: Container, clock: FakeClock) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.VK)
    assert (await driver.start())[-1].startswith("Для регистрации введите номер")
    assert (await driver.say("hello"))[0].startswith("Не получилось распознать номер")
    texts = await driver.say("8 (916) 123-45-67")
    assert texts == ["Мы отправили SMS с кодом на номер +79161234567. Введите код из 6 цифр."]
    assert driver.keyboard == ["Отправить код ещё раз", "Изменить номер"]
    code = sms.last_code(PHONE)
    assert "Мос ГорТакси" in sms.sent[-1][1]

    wrong = "000000" if code != "000000" else "111111"
    assert (await driver.say(wrong))[0] == "Неверный код. Осталось попыток: 4."
    assert (await driver.say("12ab"))[0].startswith("Введите код из 6 цифр")
    assert (await driver.press(Action.RESEND_SMS))[0].startswith("Новый код можно запросить через")
    assert len(sms.sent) == 1
    clock.advance(seconds=61)
    await driver.press(Action.RESEND_SMS)
    assert len(sms.sent) == 2
    new_code = sms.last_code(PHONE)
    if new_code != code:
        assert (await driver.say(code))[0].startswith("Неверный код")  # the old one is void
    assert await driver.say(f"{new_code[:3]} {new_code[3:]}") == [ASK_CODE]


async def test_a_redelivered_phone_update_sends_a_new_code(
    container: Container, clock: FakeClock
) -> None:
    # kill -9 between the commit and the SMS: the channel redelivers the phone update. The
    # first SMS may never have left, so a fresh code goes out at once (no 60 s pause), and
    # only the fresh code confirms.
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.VK)
    await driver.start()
    await driver.send(Text("+7 916 123-45-67"), event_id=20)
    first = sms.last_code(PHONE)
    clock.advance(seconds=1)
    again = await driver.send(Text("+7 916 123-45-67"), event_id=20)
    assert again[0].startswith("Мы отправили SMS с кодом")
    assert len(sms.sent) == 2
    second = sms.last_code(PHONE)
    driver.event_id = 20
    if second != first:
        assert (await driver.say(first))[0].startswith("Неверный код")
        assert (await driver.say(second)) == [ASK_CODE]
    else:
        assert (await driver.say(second)) == [ASK_CODE]
    assert await count(container, t.drivers) == 0  # the referral step is next


async def test_a_redelivered_wrong_code_sends_no_new_code(container: Container) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.VK)
    await driver.start()
    await driver.say(PHONE)
    wrong = "000000" if sms.last_code(PHONE) != "000000" else "111111"
    await driver.send(Text(wrong), event_id=30)
    again = await driver.send(Text(wrong), event_id=30)
    assert len(sms.sent) == 1  # the code was tried, so it had arrived: nothing re-sent
    assert again[0].startswith("Мы отправили SMS")  # the prompt of the step, once more


async def test_sms_code_expires_and_locks(container: Container, clock: FakeClock) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.VK)
    await driver.start()
    await driver.say(PHONE)
    clock.advance(minutes=5, seconds=1)
    assert (await driver.say(sms.last_code()))[0].startswith("Срок действия кода истёк")

    clock.advance(seconds=60)
    await driver.press(Action.RESEND_SMS)
    code = sms.last_code()
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert (await driver.say(wrong))[0] == f"Неверный код. Осталось попыток: {left}."
    assert (await driver.say(wrong))[0].startswith("Слишком много неверных попыток")
    # Locked: even the right code no longer works; a new one must be requested.
    assert (await driver.say(code))[0].startswith("Слишком много неверных попыток")
    assert await count(container, t.drivers) == 0


async def test_sms_gateway_failure_is_retried_once(container: Container) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.TERMINAL)
    await driver.start()
    sms.failures = 1
    assert (await driver.say(PHONE))[0].startswith("Мы отправили SMS")
    sms.failures = 2
    other = Person(container, "mos", channel=Channel.TERMINAL)
    await other.start()
    assert (await other.say("+79161112233"))[0] == "Не удалось отправить SMS. Попробуйте позже."
    assert (await other.say("hello"))[0].startswith("Не получилось распознать номер")


async def test_change_phone_during_sms_step(container: Container, clock: FakeClock) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    driver = Person(container, "mos", channel=Channel.VK)
    await driver.start()
    await driver.say("+79161112233")
    assert (await driver.press(Action.CHANGE_PHONE))[0].startswith("Для регистрации введите номер")
    # The resend pause holds for any number a chat asks for (SMS pumping): a new number
    # within it is told when it can have a code, and nothing is sent.
    assert await driver.say(PHONE) == ["Новый код можно запросить через 1 мин."]
    assert sms.sent[-1][0] == "+79161112233"
    clock.advance(seconds=60)
    await driver.say(PHONE)
    assert await driver.say(sms.last_code(PHONE)) == [ASK_CODE]


async def test_partner_gets_code_and_telegram_link(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+7 916 000-00-01", "Иван")
    me = Person(container, "mos", user_id="555")
    await me.start()
    texts = await me.share_contact("+79160000001")
    assert texts[0].startswith("Вы партнёр реферальной программы таксопарка «Мос ГорТакси»")
    assert texts[1].startswith(f"Ваш реферальный код: {partner.code}")
    [stored] = await container.admin.list_partners("mos")
    assert stored.telegram_chat_id == 555
    assert partner.code in (await me.command("code"))[0]
    assert await count(container, t.drivers) == 0

    in_vk = Person(container, "mos", channel=Channel.VK)
    await in_vk.start()
    await in_vk.say("+79160000001")
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    texts = await in_vk.say(sms.last_code())
    assert "откройте бот @mos_gortaxi_bot" in texts[0]
    assert partner.code in texts[1]


async def test_partner_settings(container: Container) -> None:
    await container.admin.add_partner("mos", "+79160000001", None)
    me = Person(container, "mos")
    await me.start()
    await me.share_contact("+79160000001")
    assert (await me.command("settings"))[0].startswith("Настройки уведомлений: сразу")
    texts = await me.say("Только ежедневная сводка")
    assert texts == ["Настройки сохранены.", texts[1]]
    assert "только ежедневная сводка" in texts[1]
    await me.press(Action.QUIET_NIGHT)
    [partner] = await container.admin.list_partners("mos")
    assert (partner.alerts, partner.quiet_from, partner.quiet_to) == ("digest", "23:00", "08:00")

    driver = Person(container, "mos")
    await driver.start()
    assert (await driver.command("settings"))[0].startswith("Настройки уведомлений доступны")


async def test_one_driver_across_channels(container: Container) -> None:
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    code = await registered(container, Person(container, "mos"))
    in_vk = Person(container, "mos", channel=Channel.VK)
    await in_vk.start()
    await in_vk.say(PHONE)
    texts = await in_vk.say(sms.last_code())
    assert texts[0] == "Этот номер уже зарегистрирован в таксопарке «Мос ГорТакси». " + (
        "Ваш аккаунт привязан к этому чату."
    )
    assert code in texts[1]
    card = await container.admin.driver_card("mos", PHONE)
    assert {i.channel for i in card.identities} == {Channel.TELEGRAM, Channel.VK}
    assert await count(container, t.drivers) == 1
    # The same phone in another park is another driver.
    await registered(container, Person(container, "spb"))
    assert await count(container, t.drivers) == 2


async def test_repeated_update_changes_nothing_twice(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    await driver.send(Pressed(Action.NO_CODE), event_id=10)
    assert driver.texts[0] == "Регистрация завершена!"
    again = await driver.send(Pressed(Action.NO_CODE), event_id=10)
    # Answered again (the first reply may have been lost to a crash), applied once.
    assert len(again) == 1
    assert "Ваш реферальный код" in again[0] or driver.texts[-1] in again
    assert await count(container, t.drivers) == 1


async def test_english_speakers_get_english(container: Container) -> None:
    driver = Person(container, "mos", language="en-GB")
    texts = await driver.start()
    assert texts[0].startswith("Hello!")
    await driver.share_contact(PHONE)
    assert driver.keyboard == ["I have no referral code"]


async def test_restart_resumes_at_the_same_step(
    database_url: str, tmp_path: object, clock: FakeClock, sms: RecordingSms
) -> None:
    from app.bootstrap import build
    from tests.conftest import make_settings, reset_postgres

    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    settings = make_settings(database_url, tmp_path)  # type: ignore[arg-type]
    first = await build(settings, clock=clock, sms=sms)
    driver = Person(first, "mos", channel=Channel.VK)
    await driver.start()
    await driver.say(PHONE)
    await first.aclose()

    second = await build(settings, clock=clock, sms=sms)  # fresh objects, same database
    try:
        resumed = Person(second, "mos", channel=Channel.VK, user_id=driver.user_id)
        resumed.event_id = driver.event_id
        assert await resumed.say(sms.last_code()) == [ASK_CODE]
        assert (await resumed.press(Action.NO_CODE))[0] == "Регистрация завершена!"
    finally:
        await second.aclose()


async def test_simultaneous_completions_give_one_driver(container: Container) -> None:
    # The same phone confirmed in Telegram and VK at once, both pressing "no code".
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    telegram = Person(container, "mos")
    await telegram.start()
    await telegram.share_contact(PHONE)
    vk = Person(container, "mos", channel=Channel.VK)
    await vk.start()
    await vk.say(PHONE)
    await vk.say(sms.last_code())
    results = await asyncio.gather(
        telegram.press(Action.NO_CODE), vk.press(Action.NO_CODE), return_exceptions=True
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    assert await count(container, t.drivers) == 1
    card = await container.admin.driver_card("mos", PHONE)
    assert {i.channel for i in card.identities} == {Channel.TELEGRAM, Channel.VK}
    code = card.driver.own_code
    assert code in "\n".join(telegram.texts)
    assert code in "\n".join(vk.texts)
    # The code of the loser was released: exactly one driver code exists.
    kinds = await container.db.run_on_connection(
        lambda conn: list(conn.execute(select(t.codes.c.kind)).scalars())
    )
    assert kinds == ["driver"]


async def test_same_update_twice_concurrently(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    await driver.share_contact(PHONE)
    results = await asyncio.gather(
        driver.send(Pressed(Action.NO_CODE), event_id=50),
        driver.send(Pressed(Action.NO_CODE), event_id=50),
    )
    # One applies it (completion, code, ...); the repeat is answered with the code only.
    repeat, applied = sorted(results, key=len)
    assert len(repeat) == 1
    assert "Регистрация завершена!" in applied
    assert repeat[0] in applied
    assert await count(container, t.drivers) == 1


@pytest.mark.parametrize("payload", ["", "junk!!", "x" * 64, "a74t"])
async def test_unknown_start_payload_is_ignored(container: Container, payload: str) -> None:
    driver = Person(container, "mos")
    texts = await driver.start(payload)
    assert texts[0].startswith("Здравствуйте!")
    assert texts[-1].startswith("Для регистрации подтвердите номер телефона")
    assert await driver.share_contact(PHONE) == [ASK_CODE]


async def test_writing_before_start_gets_a_greeting(container: Container) -> None:
    hello = Person(container, "mos", channel=Channel.VK)
    texts = await hello.say("Здравствуйте")
    assert texts[0].startswith("Здравствуйте! Это бот регистрации")
    assert texts[1].startswith("Для регистрации введите номер")
    assert (await hello.say("опять привет"))[0].startswith("Не получилось распознать номер")

    straight = Person(container, "mos", channel=Channel.VK)
    texts = await straight.say("+7 916 123-45-67")
    assert texts[0].startswith("Здравствуйте!")
    assert texts[1].startswith("Мы отправили SMS")


async def test_stale_buttons_say_so(container: Container) -> None:
    driver = Person(container, "mos")
    await driver.start()
    texts = await driver.press(Action.RESEND_SMS)
    assert texts[0] == "Эта кнопка уже не действует."
    assert texts[1].startswith("Для регистрации подтвердите номер телефона")
    texts = await driver.unsupported("stale_button")
    assert texts[0] == "Эта кнопка уже не действует."


async def test_bare_slash_and_first_update_contact(container: Container) -> None:
    driver = Person(container, "mos", channel=Channel.TERMINAL)
    await driver.start()
    assert (await driver.say("/"))[-1].startswith("Для регистрации введите номер")
    # A contact from an old keyboard as the very first update is taken, not re-asked.
    early = Person(container, "mos")
    assert await early.share_contact(PHONE) == [ASK_CODE]


async def test_sms_goes_out_after_the_state_is_stored(container: Container) -> None:
    # The gateway may take seconds: no transaction (nor pooled connection) waits on it, and
    # the step it confirms is already visible to everyone when the SMS leaves.
    seen_steps: list[str] = []
    sms: RecordingSms = container.sms  # type: ignore[assignment]
    original = sms.send

    async def send(phone: str, text: str) -> None:
        conv = await container.db.read(
            lambda uow: uow.conversations.get("mos", Channel.VK, driver.user_id)
        )
        seen_steps.append(conv.step.value if conv else "none")
        await original(phone, text)

    sms.send = send  # type: ignore[method-assign]
    driver = Person(container, "mos", channel=Channel.VK)
    await driver.start()
    assert (await driver.say(PHONE))[0].startswith("Мы отправили SMS")
    assert seen_steps == ["otp"]
