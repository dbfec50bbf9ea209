"""Bot webhook modes over real HTTP: Telegram's secret token header and VK's Callback API
(confirmation string, secret, group) are checked before any handler runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.web.conftest import free_port
from web.api_errors import install_api_errors
from web.api_webhooks_in import (
    TELEGRAM_SECRET_HEADER,
    UpdateHandler,
    VkCallback,
    telegram_webhook_router,
    vk_callback_router,
)
from web.server import serve

TG_SECRET = "tg-secret-0123456789"
VK = VkCallback(group_id=1001, confirmation="a1b2c3d4", secret="vk-secret-0123456789")


@dataclass
class Served:
    http: httpx.AsyncClient
    got: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@asynccontextmanager
async def serving(handler: UpdateHandler) -> AsyncIterator[httpx.AsyncClient]:
    """Both webhook routers around ``handler``, served on a free port, and a client of it."""
    from core.texts import Catalog

    app = FastAPI()
    install_api_errors(app, Catalog())
    app.include_router(telegram_webhook_router({"mos": TG_SECRET}, handler))
    app.include_router(vk_callback_router({"mos": VK}, handler))
    port = free_port()
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve(app, "127.0.0.1", port, stop, on_started=lambda _p: started.set())
    )
    await asyncio.wait_for(started.wait(), 10)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            yield http
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    got: list[tuple[str, dict[str, Any]]] = []

    async def handler(park: str, update: dict[str, Any]) -> None:
        got.append((park, update))

    async with serving(handler) as http:
        yield Served(http, got)


async def test_telegram_secret_token(served: Served) -> None:
    update = {"update_id": 1, "message": {"text": "/start"}}
    url = "/webhooks/telegram/mos"
    for headers in ({}, {TELEGRAM_SECRET_HEADER: "wrong"}, {TELEGRAM_SECRET_HEADER: ""}):
        answer = await served.http.post(url, json=update, headers=headers)
        assert answer.status_code == 403
        assert answer.json()["code"] == "forbidden"
    other = await served.http.post(
        "/webhooks/telegram/spb", json=update, headers={TELEGRAM_SECRET_HEADER: TG_SECRET}
    )
    assert other.status_code == 403
    assert served.got == []
    ok = await served.http.post(url, json=update, headers={TELEGRAM_SECRET_HEADER: TG_SECRET})
    assert ok.status_code == 200
    assert served.got == [("mos", update)]
    junk = await served.http.post(
        url, content=b"[1,2", headers={TELEGRAM_SECRET_HEADER: TG_SECRET}
    )
    assert junk.status_code == 400
    assert len(served.got) == 1


async def test_vk_callback_confirmation_and_secret(served: Served) -> None:
    url = "/webhooks/vk/mos"
    confirm = {"type": "confirmation", "group_id": 1001, "secret": VK.secret}
    answer = await served.http.post(url, json=confirm)
    assert answer.status_code == 200
    assert answer.text == "a1b2c3d4"
    event = {"type": "message_new", "group_id": 1001, "object": {}, "secret": VK.secret}
    for bad in (
        {**event, "secret": "wrong"},
        {k: v for k, v in event.items() if k != "secret"},
        {**event, "secret": 12345},
        {**event, "group_id": 2002},
        {**confirm, "secret": "wrong"},
    ):
        refused = await served.http.post(url, json=bad)
        assert refused.status_code == 403, bad
    assert (await served.http.post("/webhooks/vk/spb", json=event)).status_code == 403
    assert served.got == []
    ok = await served.http.post(url, json=event)
    assert ok.status_code == 200
    assert ok.text == "ok"
    # The handler gets the event without the secret, so nothing it logs can carry it.
    assert served.got == [("mos", {k: v for k, v in event.items() if k != "secret"})]


async def test_a_handler_that_is_not_serving_gets_the_update_sent_again() -> None:
    """A front end that is stopping returns False: 503, so Telegram and VK deliver again."""

    async def stopping(park: str, update: dict[str, Any]) -> bool:
        return False

    async with serving(stopping) as http:
        tg = await http.post(
            "/webhooks/telegram/mos",
            json={"update_id": 1},
            headers={TELEGRAM_SECRET_HEADER: TG_SECRET},
        )
        event = {"type": "message_new", "group_id": 1001, "object": {}, "secret": VK.secret}
        vk = await http.post("/webhooks/vk/mos", json=event)
        confirm = {"type": "confirmation", "group_id": 1001, "secret": VK.secret}
        confirmation = await http.post("/webhooks/vk/mos", json=confirm)
    for answer in (tg, vk):
        assert answer.status_code == 503
        assert answer.json()["code"] == "not_ready"
        assert answer.headers["retry-after"] == "5"
    assert confirmation.text == VK.confirmation  # VK's check needs no running bot
