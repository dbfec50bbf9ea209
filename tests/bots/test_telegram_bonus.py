"""«Мои бонусы» in Telegram: a driver refers another, the second driver's orders are imported,
and the first sees the balance, this month's accruals, the referral and the last accruals
(the fake Bot API, the real aiogram client, a real database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC
from pathlib import Path

import pytest

from core.domain.bonus_config import program_from_config
from core.domain.bonus_records import OrderInput
from tests.bots.telegram_harness import (
    NO_CODE,
    Chat,
    World,
    keyboard,
    own_code,
    running_world,
)

MY_CODE, MY_BONUS = "Мой реферальный код", "Мои бонусы"
RULES = {
    "rules": [
        {
            "version": 1,
            "starts_at": "2026-01-01T00:00:00+03:00",
            "levels": [{"fixed_kopecks": 5000}, {"percent": "2.5"}],
        }
    ]
}


async def register(chat: Chat, phone: str, code: str | None = None) -> str:
    """/start, contact, code or no-code; the driver's own code, whatever else is sent."""
    await chat.start()
    await chat.share_contact(phone)
    sent = await chat.say(code or NO_CODE)
    [with_code] = [m for m in sent if "Ваш реферальный код: " in m["text"]]
    return own_code(with_code["text"])


@pytest.fixture
async def world(database_url: str, tmp_path: Path) -> AsyncIterator[World]:
    async with running_world(database_url, tmp_path) as world:
        ledger = world.container.ledger
        ledger.programs["mos"] = program_from_config("mos", "Europe/Moscow", RULES)
        yield world


async def test_a_referrer_sees_the_referred_drivers_orders_in_my_bonus(world: World) -> None:
    first, second = world.chat(), world.chat()
    code = await register(first, "+79160000001")
    await register(second, "+79160000002", code)

    [empty] = await first.say("/bonus")
    assert "Баланс: 0.00 ₽" in empty["text"]
    assert "Рефералов: 1" in empty["text"]
    assert "пока нет" in empty["text"]
    assert keyboard(empty) == [{"text": MY_CODE}, {"text": MY_BONUS}]

    now = world.clock.now().astimezone(UTC)
    orders = [
        OrderInput(f"o{i}", now, 100_000, "completed", driver_phone="+79160000002")
        for i in range(3)
    ]
    report = await world.container.ledger.import_orders("mos", orders)
    assert report.accepted == 3

    [shown] = await first.say(MY_BONUS)
    text = shown["text"]
    assert "Баланс: 150.00 ₽" in text  # 3 orders x 50 ₽ at level 1
    assert "Доступно к выводу: 150.00 ₽" in text
    assert "Начислено в этом месяце: 150.00 ₽" in text
    assert "Рефералов: 1" in text
    assert "50.00 ₽ — заказ o2, уровень 1" in text
    # The referred driver earns nothing from their own orders.
    [own] = await second.say(MY_BONUS)
    assert "Баланс: 0.00 ₽" in own["text"]
    assert "Рефералов: 0" in own["text"]


async def test_my_bonus_before_registration_asks_to_finish(world: World) -> None:
    chat = world.chat()
    await chat.start()
    [refused, *_] = await chat.say("/bonus")
    assert refused["text"].startswith("Вы ещё не зарегистрированы.")
    assert "Баланс" not in refused["text"]
