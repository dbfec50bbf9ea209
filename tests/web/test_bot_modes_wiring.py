"""The webhook modes' settings, start-up checks and front-end entry points, in process.

The front ends run for real (aiogram against the fake Bot API, vkbottle against the fake VK,
a real database); what ``taxireg run`` does with them end to end is in
``test_run_bot_modes.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from app.bootstrap import Container
from app.runner import telegram_front_end, vk_front_end
from app.settings import ConfigError, load_settings
from app.settings.sections import TelegramMode, VkMode
from app.wiring_bot_modes import TELEGRAM_SECRET_NAME, check_bot_modes, telegram_webhook
from bots.telegram.options import TelegramOptions, TelegramPark, TelegramWebhook
from bots.vk.options import VkOptions, VkPark
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK

TOKEN = "424244:AAH-fake-token-for-the-front-end"
VK_TOKEN = "vk1.a.fake-token-for-the-front-end"
PARK = {"slug": "mos", "name": "Мос ГорТакси", "landing_url": "https://mos.example/ref"}
TG_PARK = {**PARK, "telegram_token": TOKEN, "telegram_username": "mos_gortaxi_bot"}
VK_PARK = {**PARK, "vk_group_id": 1001, "vk_token": VK_TOKEN}
WEB = {"public_url": "https://taxireg.example.ru"}


def test_modes_default_to_polling() -> None:
    settings = load_settings(None)
    assert settings.telegram.mode is TelegramMode.POLLING
    assert settings.vk.mode is VkMode.LONG_POLL


@pytest.mark.parametrize("secret", ["with space", "ключ", "x" * 257, "semi;colon"])
def test_a_telegram_secret_telegram_would_refuse_is_a_config_error(secret: str) -> None:
    with pytest.raises(ConfigError, match=r"telegram\.webhook_secret") as refused:
        load_settings(None, telegram={"mode": "webhook", "webhook_secret": secret})
    assert secret not in str(refused.value)


def test_vk_confirmation_is_one_string_or_one_per_park() -> None:
    one = load_settings(None, vk={"callback_confirmation": "a1b2c3d4"})
    assert one.vk.confirmation("mos") == one.vk.confirmation("spb") == "a1b2c3d4"
    per_park = load_settings(None, vk={"callback_confirmation": {"mos": "a1b2c3d4"}})
    assert per_park.vk.confirmation("mos") == "a1b2c3d4"
    assert per_park.vk.confirmation("spb") is None


def test_webhook_modes_need_the_web_section() -> None:
    webhook = load_settings(None, telegram={"mode": "webhook"}, parks=[TG_PARK])
    with pytest.raises(ConfigError, match=r"there is no \[web\]"):
        check_bot_modes(webhook)
    served = load_settings(None, telegram={"mode": "webhook"}, parks=[TG_PARK], web=WEB)
    check_bot_modes(served)
    with pytest.raises(ConfigError, match="--no-web"):
        check_bot_modes(served, web=False)
    # Polling needs no web; a mode without any bot of its kind checks nothing.
    check_bot_modes(load_settings(None, parks=[TG_PARK]))
    check_bot_modes(load_settings(None, vk={"mode": "callback"}, parks=[TG_PARK]))


def test_callback_mode_needs_the_secret_and_every_confirmation() -> None:
    vk: dict[str, Any] = {"mode": "callback", "callback_secret": "vk-secret-0123"}
    parks = [VK_PARK, {**VK_PARK, "slug": "spb", "vk_group_id": 2002}]
    with pytest.raises(ConfigError, match=r"no confirmation string for park\(s\) mos, spb"):
        check_bot_modes(load_settings(None, vk=vk, parks=parks, web=WEB))
    vk["callback_confirmation"] = {"mos": "a1b2c3d4"}
    with pytest.raises(ConfigError, match=r"park\(s\) spb$"):
        check_bot_modes(load_settings(None, vk=vk, parks=parks, web=WEB))
    vk["callback_confirmation"] = "a1b2c3d4"
    check_bot_modes(load_settings(None, vk=vk, parks=parks, web=WEB))
    del vk["callback_secret"]
    with pytest.raises(ConfigError, match=r"vk\.callback_secret: required"):
        check_bot_modes(load_settings(None, vk=vk, parks=parks, web=WEB))


async def test_the_generated_telegram_secret_is_stored_once(container: Container) -> None:
    settings = load_settings(None, telegram={"mode": "webhook"}, parks=[TG_PARK], web=WEB)
    container.settings = settings
    first = await telegram_webhook(container)
    second = await telegram_webhook(container)
    assert first is not None
    assert second is not None
    assert first.secret == second.secret
    stored = await container.db.run(
        lambda uow: uow.secrets.get_or_create(TELEGRAM_SECRET_NAME, "x")
    )
    assert stored == first.secret
    assert first.urls == {"mos": "https://taxireg.example.ru/webhooks/telegram/mos"}


async def test_telegram_front_end_in_webhook_mode(container: Container) -> None:
    url = "https://taxireg.example.ru/webhooks/telegram/mos"
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, username="mos_gortaxi_bot")
        options = TelegramOptions(
            parks=(TelegramPark("mos", TOKEN, "mos_gortaxi_bot"),),
            api_server=fake.base_url,
            webhook=TelegramWebhook(urls={"mos": url}, secret="s3cret-token"),
        )
        front = telegram_front_end(container, options)
        await front.start()
        try:
            await fake.wait_for_requests("setWebhook", token=TOKEN)
            assert fake.webhook(TOKEN) is not None
            [hook] = fake.calls("setWebhook")
            assert (hook.params["url"], hook.params["secret_token"]) == (url, "s3cret-token")
            # No bot for that park in this process: not handled, the endpoint says 503.
            assert await front.feed_webhook("spb", {"update_id": 1}) is False
            start = {"update_id": 1, **tg.message(901, "/start")}
            assert await front.feed_webhook("mos", start) is True
            # Handled and answered by the time it returns.
            [welcome] = fake.sent(chat_id=901)
            assert "«Мос ГорТакси»" in welcome["text"]
        finally:
            await front.stop()
        assert await front.feed_webhook("mos", {"update_id": 2, **tg.message(901, "hi")}) is False
        assert fake.calls("getUpdates") == []


async def test_vk_front_end_in_callback_mode(container: Container) -> None:
    async with FakeVK() as fake:
        fake.add_group(1001, VK_TOKEN)
        fake.add_user(501, "Иван", "Петров")
        options = VkOptions(
            parks=(VkPark("mos", 1001, VK_TOKEN),), api_url=fake.api_url, callback=True
        )
        front = vk_front_end(container, options)
        await front.start()
        try:
            event = fake.callback_event(1001, vk_updates.message_new(501, "Начать"), None)
            assert await front.handle_callback("mos", event) is True
            assert "«Мос ГорТакси»" in fake.sent_to(501)[0].message
            assert await front.handle_callback("spb", event) is False
        finally:
            await front.stop()
        assert await front.handle_callback("mos", event) is False
        assert fake.calls_to("groups.getLongPollServer") == []
