"""Partners link their chats, registered drivers ask for their code, two parks stay apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.bots.telegram_harness import (
    ASK_CODE,
    MY_CODE,
    NO_CODE,
    REGISTERED,
    World,
    keyboard,
    own_code,
    running_world,
    url_buttons,
)

MY_BONUS = "Мои бонусы"  # the button shown beside the code once registered

PARTNER_PHONE = "+79160000042"


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(database_url, tmp_path) as world:
        yield world


async def test_partner_links_the_chat_and_gets_the_code(world: World) -> None:
    partner = await world.container.admin.add_partner("mos", PARTNER_PHONE, "Иван")
    chat = world.chat()
    await chat.start()

    [linked] = await chat.share_contact(PARTNER_PHONE.removeprefix("+"))
    assert linked["text"].startswith("Вы партнёр реферальной программы таксопарка «Мос ГорТакси».")
    assert own_code(linked["text"]) == partner.code
    assert keyboard(linked) == [{"text": MY_CODE}, {"text": MY_BONUS}]
    [stored] = await world.container.admin.list_partners("mos")
    assert stored.telegram_chat_id == chat.user_id

    [code] = await chat.say("/code")
    assert own_code(code["text"]) == partner.code
    [code] = await chat.say(MY_CODE)
    assert own_code(code["text"]) == partner.code


async def test_partner_changes_alert_settings(world: World) -> None:
    await world.container.admin.add_partner("mos", PARTNER_PHONE, "Иван")
    chat = world.chat()
    await chat.start()
    await chat.share_contact(PARTNER_PHONE)

    [settings] = await chat.say("/settings")
    assert settings["text"].startswith("Настройки уведомлений: сразу о каждом новом водителе")
    assert [b["text"] for b in keyboard(settings)] == [
        "Сразу о каждом водителе",
        "Только ежедневная сводка",
        "Тихие часы 23:00–08:00",
        "Без тихих часов",
        MY_CODE,
    ]
    [saved] = await chat.say("Только ежедневная сводка")
    assert saved["text"].startswith("Настройки сохранены.\n\nНастройки уведомлений: только")
    [stored] = await world.container.admin.list_partners("mos")
    assert stored.alerts == "digest"


async def test_settings_are_for_partners_only(world: World) -> None:
    driver = world.chat()
    await driver.register("+79161234567")
    [refused] = await driver.say("/settings")
    assert refused["text"].startswith("Настройки уведомлений доступны партнёрам")


async def test_partner_of_another_park_is_sent_to_their_bot(world: World) -> None:
    await world.container.admin.add_partner("spb", PARTNER_PHONE, "Олег")
    chat = world.chat("mos")
    await chat.start()
    told, ask = await chat.share_contact(PARTNER_PHONE)
    assert told["text"] == (
        "Ваш номер записан как партнёр таксопарка «Питер Такси». Ваш бот: @spb_taxi_bot."
    )
    assert url_buttons(told) == [
        {"text": "Открыть @spb_taxi_bot", "url": "https://t.me/spb_taxi_bot"}
    ]
    assert ask["text"] == ASK_CODE  # they may still register as a driver here
    [stored] = await world.container.admin.list_partners("spb")
    assert stored.telegram_chat_id is None


async def test_registered_driver_asks_for_the_code(world: World) -> None:
    driver = world.chat()
    code = await driver.register("+79161234567")
    [again] = await driver.say("/code")
    assert own_code(again["text"]) == code
    assert keyboard(again) == [{"text": MY_CODE}, {"text": MY_BONUS}]
    [again] = await driver.start()
    assert again["text"].startswith("Здравствуйте!")
    assert own_code(again["text"]) == code


async def test_two_parks_in_one_process_keep_apart(world: World) -> None:
    mos_partner = await world.container.admin.add_partner("mos", "+79160000001", None)
    spb_partner = await world.container.admin.add_partner("spb", "+79160000002", None)
    user_id = 777_001  # the same person talks to both bots
    in_mos, in_spb = world.chat("mos", user_id=user_id), world.chat("spb", user_id=user_id)

    mos_code = await in_mos.register("+79161234567", mos_partner.code)
    await in_spb.start()
    await in_spb.share_contact("79161234567")
    [redirect] = await in_spb.say(mos_partner.code)  # a Moscow code in the Petersburg bot
    assert "@mos_gortaxi_bot" in redirect["text"]
    [refused] = await in_spb.say(mos_code)  # the driver's own Moscow code
    assert "@mos_gortaxi_bot" in refused["text"]
    [done] = await in_spb.say(spb_partner.code)
    assert REGISTERED in done["text"]
    spb_code = own_code(done["text"])
    assert spb_code != mos_code

    # Each bot answered only in its own chat, from its own token.
    mos_card = await world.container.admin.driver_card("mos", "+79161234567")
    spb_card = await world.container.admin.driver_card("spb", "+79161234567")
    assert (mos_card.driver.entered_code, spb_card.driver.entered_code) == (
        mos_partner.code,
        spb_partner.code,
    )
    assert all(m["chat_id"] == user_id for m in world.fake.sent())
    assert len(world.fake.sent("111:AAA-mos-gortaxi-test-token")) == len(in_mos.received)
    assert len(world.fake.sent("222:BBB-spb-taxi-test-token")) == len(in_spb.received)


async def test_no_code_button_label_is_plain_text_to_a_finished_driver(world: World) -> None:
    driver = world.chat()
    await driver.register("+79161234567")
    [menu] = await driver.say(NO_CODE)  # an old keyboard's button after completion
    assert menu["text"].startswith("Эта кнопка уже не действует.")
    assert "Чтобы получить свой реферальный код" in menu["text"]
