"""A registration end to end in Telegram webhook mode: updates arrive as HTTP POSTs to the
web app's webhook endpoint (with the secret token), go through the real aiogram Dispatcher
and the bot's Responder, and the replies reach the fake Bot API over real HTTP."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import httpx
from fastapi import FastAPI

from app.bootstrap import Container
from bots.telegram.dispatcher import build_dispatcher
from bots.telegram.responder import Responder
from bots.telegram.sender import Sender
from core.texts import Catalog
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram
from tests.web.conftest import free_port
from web.api_errors import install_api_errors
from web.api_webhooks_in import TELEGRAM_SECRET_HEADER, telegram_webhook_router
from web.server import serve

TOKEN = "424242:AAH-fake-token-for-webhook-mode"
SECRET = "tg-webhook-secret-0123456789"


async def test_registration_in_webhook_mode(container: Container) -> None:
    partner = await container.admin.add_partner("mos", "+79161112233", "Анна")
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, username="mos_gortaxi_bot")
        bot = fake.make_bot(TOKEN)
        dp = build_dispatcher(Responder(container.registration, Sender()), {bot.id: "mos"})

        async def feed(park: str, update: dict[str, Any]) -> None:
            assert park == "mos"
            await dp.feed_raw_update(bot, update)

        app = FastAPI()
        install_api_errors(app, Catalog())
        app.include_router(telegram_webhook_router({"mos": SECRET}, feed))
        port = free_port()
        url = f"http://127.0.0.1:{port}/webhooks/telegram/mos"
        stop, started = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            serve(app, "127.0.0.1", port, stop, on_started=lambda _p: started.set())
        )
        await asyncio.wait_for(started.wait(), 10)
        try:
            # What webhook mode does at start: setWebhook with the same secret token.
            assert await bot.set_webhook(url, secret_token=SECRET)
            [hook] = fake.calls("setWebhook")
            assert hook.params["secret_token"] == SECRET
            assert hook.params["url"] == url

            ids = itertools.count(1)
            user_id = 777001
            async with httpx.AsyncClient(timeout=10) as http:

                async def post(update: dict[str, Any], secret: str = SECRET) -> int:
                    body = {"update_id": next(ids), **update}
                    answer = await http.post(
                        url, json=body, headers={TELEGRAM_SECRET_HEADER: secret}
                    )
                    return answer.status_code

                # A forged update without the secret reaches nothing.
                assert await post(tg.message(user_id, f"/start {partner.code}"), "x") == 403
                assert fake.sent() == []
                assert await post(tg.message(user_id, f"/start {partner.code}")) == 200
                await fake.wait_for_sent(user_id, 1)
                assert await post(tg.contact(user_id, "79160000001")) == 200
            driver = await container.db.read(
                lambda uow: uow.drivers.by_phone("mos", "+79160000001")
            )
            assert driver is not None
            assert driver.entered_code == partner.code
            texts = [m["text"] for m in fake.sent(chat_id=user_id)]
            assert any(driver.own_code in text for text in texts), texts
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await bot.session.close()
