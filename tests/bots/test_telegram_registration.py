"""Drivers register through the real Telegram front end, long-polling FakeTelegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bots.telegram_harness import (
    ASK_CODE,
    ASK_CONTACT,
    MOS_TOKEN,
    MY_BONUS,
    MY_CODE,
    NO_CODE,
    REGISTERED,
    SHARE_PHONE,
    UNSUPPORTED,
    World,
    keyboard,
    own_code,
    running_world,
    url_buttons,
)
from tests.fakes import telegram_updates as tg

PHONE = "+79161234567"
CONTACT_PHONE = "79161234567"  # Telegram sends contacts without "+"


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(database_url, tmp_path) as world:
        yield world


async def test_deep_link_registration_asks_no_code(world: World) -> None:
    partner = await world.container.admin.add_partner("mos", "+7 916 000-00-01", "Иван")
    driver = world.chat()

    [hello] = await driver.start(f"{partner.code}-flyer")
    # Welcome, the code from the link and the phone request: one message, one keyboard.
    assert hello["chat_id"] == driver.user_id
    assert hello["text"] == (
        "Здравствуйте! Это бот регистрации водителей таксопарка «Мос ГорТакси».\n\n"
        f"Реферальный код {partner.code} будет использован при регистрации.\n\n"
        f"{ASK_CONTACT}"
    )
    assert keyboard(hello) == [{"text": SHARE_PHONE, "request_contact": True}]
    assert hello["reply_markup"]["resize_keyboard"] is True
    assert "parse_mode" not in hello

    [done] = await driver.share_contact(CONTACT_PHONE)
    assert ASK_CODE not in done["text"]
    code = own_code(done["text"])
    assert done["text"] == (
        f"{REGISTERED}\n\nВаш реферальный код: {code}\n"
        f"Ссылки для регистрации в приложениях и ботах: https://mos-gortaxi.ru/ref?code={code}"
    )
    assert keyboard(done) == [{"text": MY_CODE}, {"text": MY_BONUS}]

    card = await world.container.admin.driver_card("mos", PHONE)
    assert card.driver.entered_code == partner.code
    assert card.driver.source_tag == "flyer"
    assert card.driver.own_code == code


async def test_typed_code_after_the_phone(world: World) -> None:
    partner = await world.container.admin.add_partner("mos", "+7 916 000-00-02", "Анна")
    driver = world.chat()

    [hello] = await driver.start()
    assert hello["text"].endswith(ASK_CONTACT)
    [ask] = await driver.share_contact(CONTACT_PHONE)
    assert ask["text"] == ASK_CODE
    assert keyboard(ask) == [{"text": NO_CODE}]

    [done] = await driver.say(partner.code.upper())
    assert done["text"].startswith(f"Реферальный код {partner.code} принят.\n\n{REGISTERED}")
    assert keyboard(done) == [{"text": MY_CODE}, {"text": MY_BONUS}]
    card = await world.container.admin.driver_card("mos", PHONE)
    assert card.driver.entered_code == partner.code


async def test_no_code_button(world: World) -> None:
    driver = world.chat()
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)
    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)
    card = await world.container.admin.driver_card("mos", PHONE)
    assert card.driver.entered_code is None


async def test_another_parks_code_redirects_to_its_bot(world: World) -> None:
    spb_partner = await world.container.admin.add_partner("spb", "+7 916 000-00-03", "Олег")
    driver = world.chat("mos")
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)

    [redirect] = await driver.say(spb_partner.code)
    assert "@spb_taxi_bot" in redirect["text"]
    assert url_buttons(redirect) == [
        {"text": "Открыть @spb_taxi_bot", "url": "https://t.me/spb_taxi_bot"}
    ]
    # Still at the code step: the no-code button still completes the registration.
    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)


async def test_another_parks_deep_link_redirects_then_asks_for_the_phone(world: World) -> None:
    spb_partner = await world.container.admin.add_partner("spb", "+7 916 000-00-04", None)
    driver = world.chat("mos")
    first, second = await driver.start(spb_partner.code)
    # The redirect carries URL buttons, so the phone request (with its keyboard) follows.
    assert "@spb_taxi_bot" in first["text"]
    assert url_buttons(first)[0]["url"] == "https://t.me/spb_taxi_bot"
    assert second["text"] == ASK_CONTACT
    assert keyboard(second) == [{"text": SHARE_PHONE, "request_contact": True}]


async def test_unknown_code(world: World) -> None:
    driver = world.chat()
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)
    [refused] = await driver.say("qqqq")
    assert refused["text"].startswith("Такого реферального кода нет.")
    assert keyboard(refused) == [{"text": NO_CODE}]


async def test_five_wrong_codes_start_a_cooldown(world: World) -> None:
    partner = await world.container.admin.add_partner("mos", "+7 916 000-00-05", None)
    driver = world.chat()
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)
    for wrong in ("qqqq", "wwww", "rrrr", "tttt"):
        [refused] = await driver.say(wrong)
        assert refused["text"].startswith("Такого реферального кода нет.")
    [cooldown] = await driver.say("yyyy")
    assert cooldown["text"].startswith("Слишком много неверных кодов.")
    # Even a right code waits for the cooldown; the no-code button does not.
    [still] = await driver.say(partner.code)
    assert still["text"].startswith("Слишком много неверных кодов.")
    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)


async def test_own_code_is_refused(world: World) -> None:
    driver = world.chat()
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)
    # The operator adds this driver's phone to the partner directory meanwhile.
    partner = await world.container.admin.add_partner("mos", PHONE, "Сам себе")
    [refused] = await driver.say(partner.code)
    assert refused["text"].startswith("Это ваш собственный реферальный код")
    assert keyboard(refused) == [{"text": NO_CODE}]


async def test_someone_elses_contact_is_refused(world: World) -> None:
    driver = world.chat()
    await driver.start()
    [refused] = await driver.share_contact(CONTACT_PHONE, owner=driver.user_id + 1)
    assert refused["text"].startswith("Это чужой контакт.")
    assert keyboard(refused) == [{"text": SHARE_PHONE, "request_contact": True}]
    # A card from the phone book has no user id at all: refused the same way.
    no_owner = tg.contact(driver.user_id, CONTACT_PHONE)
    del no_owner["message"]["contact"]["user_id"]
    [refused] = await driver.send(no_owner)
    assert refused["text"].startswith("Это чужой контакт.")
    [ask] = await driver.share_contact(CONTACT_PHONE)
    assert ask["text"] == ASK_CODE


async def test_typed_phone_gets_the_button_hint(world: World) -> None:
    driver = world.chat()
    await driver.start()
    [hint] = await driver.say("+7 916 123-45-67")
    assert hint["text"].startswith("Номер нужно отправить кнопкой «Отправить номер телефона»")
    assert keyboard(hint) == [{"text": SHARE_PHONE, "request_contact": True}]


async def test_junk_at_every_step_changes_nothing(world: World) -> None:
    driver = world.chat()
    huge = "я" * 10_000
    junk = [tg.sticker(driver.user_id), tg.photo(driver.user_id), tg.voice(driver.user_id)]
    junk.append(tg.location(driver.user_id))

    await driver.start()
    for update in junk:
        [hint] = await driver.send(update)
        assert hint["text"] == f"{UNSUPPORTED}\n\n{ASK_CONTACT}"
        assert keyboard(hint) == [{"text": SHARE_PHONE, "request_contact": True}]
    [hint] = await driver.say(huge)
    assert hint["text"].startswith("Номер нужно отправить кнопкой")

    [ask] = await driver.share_contact(CONTACT_PHONE)
    assert ask["text"] == ASK_CODE
    for update in junk:
        [hint] = await driver.send(update)
        assert hint["text"] == f"{UNSUPPORTED}\n\n{ASK_CODE}"
        assert keyboard(hint) == [{"text": NO_CODE}]
    [hint] = await driver.say(huge)
    assert hint["text"].startswith("Это не похоже на реферальный код")
    [hint] = await driver.say("/")
    assert hint["text"] == ASK_CODE

    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)
    for update in junk:
        [hint] = await driver.send(update)
        assert hint["text"].startswith(f"{UNSUPPORTED}\n\nЧтобы получить свой реферальный код")
    [menu] = await driver.say(huge)
    assert menu["text"].startswith("Чтобы получить свой реферальный код")
    [code] = await driver.say(MY_CODE)
    assert own_code(code["text"]) == own_code(done["text"])


async def test_edited_messages_and_channel_posts_are_ignored(world: World) -> None:
    driver = world.chat()
    await driver.start()
    assert await driver.send(tg.edited_message(driver.user_id, "79161234567")) == []
    world.fake.push_update(MOS_TOKEN, tg.channel_post(-100777, "news"))
    [ask] = await driver.share_contact(CONTACT_PHONE)  # handled after the channel post
    assert ask["text"] == ASK_CODE
    assert world.fake.sent(chat_id=-100777) == []


async def test_markup_like_names_are_sent_verbatim(world: World) -> None:
    name = "<b>*_["
    driver = world.chat(first_name=name)
    await driver.start()
    await driver.share_contact(CONTACT_PHONE)
    [done] = await driver.say(NO_CODE)
    assert done["text"].startswith(REGISTERED)
    assert all("parse_mode" not in m for m in driver.received)
    card = await world.container.admin.driver_card("mos", PHONE)
    assert card.driver.name == name


async def test_english_speaking_user_gets_english(world: World) -> None:
    driver = world.chat(language_code="en")
    [hello] = await driver.start()
    assert hello["text"].startswith("Hello!")
    assert keyboard(hello) == [{"text": "Share phone number", "request_contact": True}]
    await driver.share_contact(CONTACT_PHONE)
    [done] = await driver.say("I have no referral code")
    assert done["text"].startswith("Registration complete!")


async def test_bot_commands_are_registered_in_both_languages(world: World) -> None:
    calls = world.fake.calls("setMyCommands", token=MOS_TOKEN)
    by_language = {call.params.get("language_code"): call.params["commands"] for call in calls}
    assert by_language[None] == [
        {"command": "start", "description": "Начать регистрацию"},
        {"command": "code", "description": "Мой реферальный код"},
        {"command": "settings", "description": "Настройки уведомлений"},
        {"command": "help", "description": "Помощь"},
    ]
    assert [c["description"] for c in by_language["en"]] == [
        "Start registration",
        "My referral code",
        "Alert settings",
        "Help",
    ]


async def test_help_and_unknown_commands_show_the_current_step(world: World) -> None:
    driver = world.chat()
    await driver.start()
    [help_] = await driver.say("/help")
    assert help_["text"].startswith("Этот бот регистрирует водителей таксопарка «Мос ГорТакси»")
    assert help_["text"].endswith(ASK_CONTACT)
    [prompt] = await driver.say("/whatever@mos_gortaxi_bot")
    assert prompt["text"] == ASK_CONTACT
