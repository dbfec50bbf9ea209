"""152-FZ consent through the real front ends: the policy is shown at the phone step, the
consent is stored with its time, channel and policy URL, the mailing opt-in (/news) is a
separate consent that /stop withdraws, and no driver is ever stored without consent.

Telegram and VK run against their fake servers; the terminal channel on the real app.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from app.bootstrap import Container, build
from app.settings import load_settings
from bots.terminal.chat import TerminalChat
from core.domain.model import Channel, Driver
from core.replies import Action
from storage import tables as t
from tests.bots.telegram_harness import NO_CODE, REGISTERED, running_world, texts
from tests.bots.vk_harness import vk_world
from tests.conftest import PARKS, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person

pytestmark = pytest.mark.timeout(60)

POLICY = "https://mos-gortaxi.ru/privacy"
CONSENT = f"Отправляя номер, вы соглашаетесь с обработкой персональных данных: {POLICY}"
MAILING_ON = "Готово: вы будете получать новости таксопарка. Отписаться — /stop."
MAILING_OFF = "Вы отписались от новостей таксопарка."
PHONE = "+79161234567"


@pytest.fixture
def policy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Moscow park shows a personal-data policy (the harnesses read ``PARKS``)."""
    monkeypatch.setitem(PARKS[0], "privacy_url", POLICY)


async def driver_of(app: Container, phone: str = PHONE) -> Driver:
    return (await app.admin.driver_card("mos", phone)).driver


def assert_consent(driver: Driver, channel: Channel, at: object) -> None:
    assert (driver.consent_at, driver.consent_channel, driver.consent_url) == (
        at,
        channel,
        POLICY,
    )


async def test_telegram_records_consent_and_mailing_opt_in_and_stop(
    database_url: str, tmp_path: Path, policy: None
) -> None:
    async with running_world(database_url, tmp_path) as world:
        chat = world.chat("mos")
        shown = texts(await chat.start())
        assert CONSENT in shown  # with the phone prompt, before any number is sent
        await chat.share_contact(PHONE)
        [done] = await chat.say(NO_CODE)
        assert REGISTERED in done["text"]
        app = world.container
        driver = await driver_of(app)
        assert_consent(driver, Channel.TELEGRAM, world.clock.now())
        assert driver.mailing_at is None  # mailings are a separate opt-in

        assert texts(await chat.say("/news")) == [MAILING_ON]
        driver = await driver_of(app)
        assert (driver.mailing_at, driver.mailing_channel, driver.mailing_url) == (
            world.clock.now(),
            Channel.TELEGRAM,
            POLICY,
        )
        assert texts(await chat.say("/stop")) == [MAILING_OFF]
        driver = await driver_of(app)
        assert (driver.mailing_at, driver.mailing_channel, driver.mailing_url) == (None,) * 3
        assert_consent(driver, Channel.TELEGRAM, driver.consent_at)  # /stop keeps this one


async def test_vk_records_consent_and_a_number_typed_before_the_policy_is_not_consent(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms, policy: None
) -> None:
    async with vk_world(database_url, tmp_path, clock, sms) as vk:
        user = vk.user(601)
        # Writing the number first, before any prompt: the policy was not shown yet.
        first = await user.say("8 916 123-45-67", expect=3)
        assert CONSENT in [s.message for s in first]
        assert sms.sent == []  # not taken as consent: nothing sent, nothing stored
        sent_at = clock.now()
        await user.say("8 916 123-45-67")  # now, after seeing the policy
        assert sms.sent[-1][0] == PHONE
        clock.advance(minutes=1)
        await user.say(sms.last_code(PHONE))
        await user.press(Action.NO_CODE, expect=2)
        # Consent is the moment the number was sent, not the moment registration ended.
        assert_consent(await driver_of(vk.container), Channel.VK, sent_at)
        [on] = await user.say("/news")
        assert on.message == MAILING_ON
        assert (await driver_of(vk.container)).mailing_channel is Channel.VK
        [off] = await user.say("/stop")
        assert off.message == MAILING_OFF
        assert (await driver_of(vk.container)).mailing_at is None


async def test_terminal_records_consent(database_url: str, tmp_path: Path) -> None:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    parks = [{**PARKS[0], "privacy_url": POLICY}, PARKS[1]]
    settings = load_settings(None, data_dir=tmp_path, database={"url": database_url}, parks=parks)
    clock, sms = FakeClock(), RecordingSms()
    app = await build(settings, clock=clock, sms=sms)
    screen: list[str] = []
    try:
        term = TerminalChat(app.registration, app.catalog, "mos", screen.append)
        await term.feed("/start")
        assert CONSENT in "\n".join(screen)
        await term.feed(PHONE)
        await term.feed(sms.last_code(PHONE))
        await term.feed(NO_CODE)
        assert REGISTERED in "\n".join(screen)
        assert_consent(await driver_of(app), Channel.TERMINAL, clock.now())
    finally:
        await app.aclose()


async def test_registration_without_consent_is_impossible(container: Container) -> None:
    """A conversation that reached the last step without a recorded consent (one from
    before consent was recorded, or a bug) stores no driver: the phone is asked again."""
    person = Person(container, "mos", Channel.TELEGRAM)
    await person.start()
    await person.share_contact(PHONE)

    def drop_consent(conn: object) -> None:
        c = t.conversations
        conn.execute(  # type: ignore[attr-defined]
            update(c).where(c.c.user_id == person.user_id).values(consent_at=None)
        )

    await container.db.run_on_connection(drop_consent)
    texts_ = await person.press(Action.NO_CODE)
    assert "Регистрация завершена!" not in texts_
    assert any("номер телефона" in text for text in texts_), texts_
    assert await container.db.read(lambda uow: uow.drivers.by_phone("mos", PHONE)) is None
    # Sharing the number again is the consent; then registration completes.
    await person.share_contact(PHONE)
    assert (await person.press(Action.NO_CODE))[0] == "Регистрация завершена!"
    assert (await driver_of(container)).consent_at == container.clock.now()
