"""Registration through the real VK front end: real vkbottle, FakeVK over HTTP, a real DB."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from app.bootstrap import build
from app.runner import serve
from core.domain.model import Channel, Identity, Source
from core.events import ContactShared, Incoming, Pressed, Start
from core.replies import Action
from tests.bots.vk_harness import (
    MOS,
    SPB,
    TOKENS,
    VkUser,
    VkWorld,
    payloads,
    texts,
    vk_settings,
)
from tests.conftest import reset_postgres
from tests.fakes import vk_updates
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fakes.vk_server import FakeVK

pytest_plugins = ("tests.bots.vk_fixtures",)
pytestmark = pytest.mark.timeout(30)

PHONE = "+79161234567"
NO_CODE = {"action": Action.NO_CODE.value}
OTP_BUTTONS = [{"action": "resend_sms"}, {"action": "change_phone"}]


def t(vk: VkWorld, key: str, lang: str = "ru", **args: object) -> str:
    return vk.container.catalog.text(lang, key, args)


async def confirm_phone(vk: VkWorld, user: VkUser, typed: str = "8 (916) 123-45-67") -> None:
    [sent] = await user.say(typed)
    assert sent.message == t(vk, "otp-sent", phone=PHONE)
    assert payloads(sent) == OTP_BUTTONS
    assert vk.sms.sent[-1][0] == PHONE


async def test_registration_from_ref_link_asks_no_code(
    vk: VkWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    partner = await vk.container.admin.add_partner("mos", "+79160000001", "Анна")
    vk.fake.add_user(501, "Иван", "Петров")
    user = vk.user(501)

    welcome = await user.start(expect=3, ref=partner.code, ref_source="qr")
    assert texts(welcome) == [
        t(vk, "welcome", park="Мос ГорТакси"),
        t(vk, "welcome-with-code", code=partner.code),
        t(vk, "phone-ask-typed"),
    ]
    assert welcome[2].keyboard is not None
    assert welcome[2].keyboard["buttons"] == []  # no keyboard at the phone step

    await confirm_phone(vk, user)
    done = await user.say(vk.sms.last_code(PHONE), expect=2)

    assert texts(done)[0] == t(vk, "registered")
    card = await vk.container.admin.driver_card("mos", PHONE)
    assert texts(done)[1] == t(
        vk,
        "driver-code",
        code=card.driver.own_code,
        url=f"https://mos-gortaxi.ru/ref?code={card.driver.own_code}",
    )
    assert payloads(done[1]) == [{"action": "my_code"}, {"action": "my_bonus"}]
    assert not any(t(vk, "ask-referral-code") == s.message for s in user.received())
    driver = card.driver
    assert (driver.entered_code, driver.source, driver.source_tag) == (
        partner.code,
        Source.DEEP_LINK,
        "qr",
    )
    assert (driver.channel, driver.name) == (Channel.VK, "Иван")
    assert card.identities == (Identity(Channel.VK, "501"),)
    # One users.get for the whole conversation, not one per message.
    assert len(vk.fake.calls_to("users.get", MOS)) == 1
    # vkbottle logs whole requests at DEBUG; our setup keeps that out even at DEBUG.
    ours = [r for r in caplog.records if r.name.startswith(("taxireg", "vkbottle"))]
    assert any(r.name == "taxireg.flow" for r in ours)
    logged = "\n".join(r.getMessage() + repr(r.__dict__) for r in ours)
    assert PHONE not in logged
    assert "9161234567" not in logged
    assert all(token not in logged for token in TOKENS.values())


async def test_typed_referral_code(vk: VkWorld) -> None:
    partner = await vk.container.admin.add_partner("mos", "+79160000002", None)
    user = vk.user(502)
    assert texts(await user.start()) == [
        t(vk, "welcome", park="Мос ГорТакси"),
        t(vk, "phone-ask-typed"),
    ]
    await confirm_phone(vk, user, "+7 916 123 45 67")
    [ask] = await user.say(vk.sms.last_code(PHONE))
    assert ask.message == t(vk, "ask-referral-code")
    assert ask.labels == ["У меня нет реферального кода"]
    assert payloads(ask) == [NO_CODE]

    done = await user.say(f"  {partner.code.upper()} ", expect=3)

    card = await vk.container.admin.driver_card("mos", PHONE)
    assert texts(done)[:2] == [t(vk, "code-accepted", code=partner.code), t(vk, "registered")]
    assert card.driver.own_code in done[2].message
    assert (card.driver.entered_code, card.driver.source) == (partner.code, Source.TYPED)


async def test_no_code_button_by_payload(vk: VkWorld) -> None:
    user = vk.user(503)
    await user.start()
    await confirm_phone(vk, user)
    await user.say(vk.sms.last_code(PHONE))

    # The label is irrelevant: the payload says which button it was.
    done = await user.press(Action.NO_CODE, label="какая-то старая подпись", expect=2)

    card = await vk.container.admin.driver_card("mos", PHONE)
    assert texts(done)[0] == t(vk, "registered")
    assert card.driver.own_code in done[1].message
    assert (card.driver.entered_code, card.driver.source) == (None, Source.NONE)


async def test_other_parks_code_redirects_to_its_bots(vk: VkWorld) -> None:
    other = await vk.container.admin.add_partner("spb", "+79160000003", None)
    user = vk.user(504)
    await user.start()
    await confirm_phone(vk, user)
    await user.say(vk.sms.last_code(PHONE))

    [redirect] = await user.say(other.code)

    assert redirect.message == t(vk, "code-other-park", bot="spb_taxi_bot")
    assert "@spb_taxi_bot" in redirect.message
    assert redirect.keyboard is not None
    assert redirect.keyboard["inline"] is True
    assert redirect.buttons == [
        {
            "type": "open_link",
            "link": "https://t.me/spb_taxi_bot",
            "label": "Открыть @spb_taxi_bot",
        },
        {
            "type": "open_link",
            "link": "https://vk.me/club2002",
            "label": "Сообщество таксопарка ВКонтакте",
        },
    ]
    # Still at the referral step: the no-code button completes it here.
    done = await user.press(Action.NO_CODE, expect=2)
    assert texts(done)[0] == t(vk, "registered")


async def test_ref_link_of_another_park(vk: VkWorld) -> None:
    other = await vk.container.admin.add_partner("spb", "+79160000004", None)
    sent = await vk.user(505).start(expect=3, ref=other.code)
    assert texts(sent) == [
        t(vk, "welcome", park="Мос ГорТакси"),
        t(vk, "code-other-park", bot="spb_taxi_bot"),
        t(vk, "phone-ask-typed"),
    ]


async def test_english_client_gets_english_texts(vk: VkWorld) -> None:
    user = vk.user(506)
    user.lang_id = 3
    sent = await user.start()
    assert texts(sent) == [
        t(vk, "welcome", "en", park="Мос ГорТакси"),
        t(vk, "phone-ask-typed", "en"),
    ]


async def test_telegram_driver_is_linked_not_duplicated(vk: VkWorld) -> None:
    registration = vk.container.registration
    telegram = Identity(Channel.TELEGRAM, "777")
    for event in (Start(), ContactShared("79161234567", own=True), Pressed(Action.NO_CODE)):
        await registration.handle(Incoming("mos", telegram, event))
    code = (await vk.container.admin.driver_card("mos", PHONE)).driver.own_code

    user = vk.user(507)
    await user.start()
    await confirm_phone(vk, user)
    linked = await user.say(vk.sms.last_code(PHONE), expect=2)

    assert texts(linked)[0] == t(vk, "already-registered", park="Мос ГорТакси")
    assert f"{code}" in linked[1].message
    card = await vk.container.admin.driver_card("mos", PHONE)
    assert card.driver.own_code == code
    assert card.driver.channel is Channel.TELEGRAM
    assert card.identities == (telegram, Identity(Channel.VK, "507"))
    # Later questions in VK are about the same driver.
    [mine] = await user.press(Action.MY_CODE)
    assert code in mine.message


async def test_partner_gets_code_and_a_link_to_the_telegram_bot(vk: VkWorld) -> None:
    partner = await vk.container.admin.add_partner("mos", PHONE, "Анна")
    user = vk.user(508)
    await user.start()
    await confirm_phone(vk, user)

    intro, code = await user.say(vk.sms.last_code(PHONE), expect=2)

    assert intro.message == t(
        vk, "partner-linked-elsewhere", park="Мос ГорТакси", bot="mos_gortaxi_bot"
    )
    assert intro.buttons == [
        {
            "type": "open_link",
            "link": "https://t.me/mos_gortaxi_bot",
            "label": "Открыть @mos_gortaxi_bot",
        }
    ]
    assert partner.code in code.message


async def test_parks_are_kept_apart(vk: VkWorld) -> None:
    # The same VK user writes to both communities: two separate registrations.
    in_mos, in_spb = vk.user(509, MOS), vk.user(509, SPB)
    assert texts(await in_spb.start())[0] == t(vk, "welcome", park="Питер Такси")
    assert texts(await in_mos.start())[0] == t(vk, "welcome", park="Мос ГорТакси")
    await confirm_phone(vk, in_spb)
    assert [s.group_id for s in vk.fake.sent_to(509)] == [SPB, SPB, MOS, MOS, SPB]


async def test_taxireg_run_serves_the_vk_bots(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms, cwd: Path
) -> None:
    # app.runner picks the VK part from the config, with the product's default timings.
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    async with FakeVK() as fake:
        fake.add_group(MOS, TOKENS["mos"])
        fake.add_group(SPB, TOKENS["spb"])
        settings = vk_settings(database_url, tmp_path / "data", fake.api_url)
        container = await build(settings, clock=clock, sms=sms)
        stop = asyncio.Event()
        serving = asyncio.create_task(serve(container, stop))
        try:
            await fake.wait_polling(MOS)
            await fake.wait_polling(SPB)
            start = vk_updates.message_new(510, "Начать", payload={"command": "start"})
            fake.push_event(SPB, start)
            sent = await fake.wait_for_sent(510, 2, group_id=SPB)
            assert sent[0].message == container.catalog.text(
                "ru", "welcome", {"park": "Питер Такси"}
            )
        finally:
            stop.set()
            await asyncio.wait_for(serving, 10)
            await container.aclose()
