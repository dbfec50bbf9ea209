"""«Мои бонусы» in Telegram: a driver refers another, the second driver's orders are imported,
and the first sees the balance, this month's accruals, the referral and the last accruals
(the fake Bot API, the real aiogram client, a real database)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC
from pathlib import Path

import pytest

from app.wiring_scheduler import build_scheduler
from bots.telegram.sender import TelegramMessenger
from core.domain.bonus import Beneficiary
from core.domain.bonus_config import program_from_config
from core.domain.bonus_payouts import Actor, PayoutStatus
from core.domain.bonus_records import OrderInput
from core.domain.model import OwnerKind
from tests.bots.notifications_env import deliver_once, make_bots, make_ctx
from tests.bots.telegram_harness import (
    NO_CODE,
    Chat,
    World,
    keyboard,
    own_code,
    running_world,
)

MY_CODE, MY_BONUS = "Мой реферальный код", "Мои бонусы"
PAYOUT, PAYOUT_CANCEL = "Вывести бонусы", "Отменить заявку на вывод"
ALERT = "Вам начислены бонусы"
RULES = {
    "payout_minimum_kopecks": 10_000,  # 100 ₽
    "alert_interval_minutes": 60,
    "rules": [
        {
            "version": 1,
            "starts_at": "2026-01-01T00:00:00+03:00",
            "levels": [{"fixed_kopecks": 5000}, {"percent": "2.5"}],
        }
    ],
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


def orders_of(phone: str, world: World, *ids: str) -> list[OrderInput]:
    now = world.clock.now().astimezone(UTC)
    return [OrderInput(i, now, 100_000, "completed", driver_phone=phone) for i in ids]


def alerts(world: World, chat: Chat) -> list[str]:
    return [m["text"] for m in world.fake.sent(chat.token, chat.user_id) if ALERT in m["text"]]


async def test_the_referrer_gets_one_batched_alert_through_the_scheduler(world: World) -> None:
    first, second = world.chat(), world.chat()
    code = await register(first, "+79160000011")
    await register(second, "+79160000012", code)
    ledger = world.container.ledger
    # Three imports (three transactions), six orders: never one message per order.
    for batch in (("a1", "a2"), ("b1", "b2"), ("c1", "c2")):
        await ledger.import_orders("mos", orders_of("+79160000012", world, *batch))
    [shown] = await first.say(MY_BONUS)
    assert "Баланс: 300.00 ₽" in shown["text"]

    bots, session = make_bots(world.container, 2.0)
    part = build_scheduler(world.container, TelegramMessenger(bots), worker="bonus-test")
    part.options = replace(part.options, deliver_interval_seconds=0.05)
    before = len(world.fake.sent(first.token, first.user_id))
    await part.start()
    try:
        # Two: the referral's registration notice (queued first), then the alert.
        sent = await world.fake.wait_for_sent(
            first.user_id, count=before + 2, timeout=15.0, token=first.token
        )
    finally:
        await part.stop()
    try:
        notice, alert = (m["text"] for m in sent[before:])
        assert "зарегистрировался новый водитель" in notice
        assert ALERT in alert
        assert alerts(world, first) == [alert]
        assert "+300.00 ₽" in alert  # the sum of the six orders' 50 ₽
        assert "доступно к выводу: 300.00 ₽" in alert
        assert alerts(world, second) == []  # the referred driver earned nothing

        # The job again at once: nothing is due, nothing more is sent.
        ctx = make_ctx(world.container)
        try:
            assert await part.alert_bonuses() == 0
            await ledger.import_orders("mos", orders_of("+79160000012", world, "d1"))
            assert await part.alert_bonuses() == 0  # within the interval: it waits
            await deliver_once(ctx)
            assert len(alerts(world, first)) == 1
            world.clock.advance(minutes=60)
            assert await part.alert_bonuses() == 1
            await deliver_once(ctx)
            latest = alerts(world, first)
            assert len(latest) == 2
            assert "+50.00 ₽" in latest[1]  # only what accrued since the first alert
            assert "Баланс: 350.00 ₽" in latest[1]
        finally:
            await ctx.aclose()
    finally:
        await session.close()


async def test_payout_requests_from_my_bonus(world: World) -> None:
    first, second = world.chat(), world.chat()
    code = await register(first, "+79160000021")
    await register(second, "+79160000022", code)
    ledger = world.container.ledger

    [empty] = await first.say(MY_BONUS)
    assert keyboard(empty) == [{"text": MY_CODE}, {"text": MY_BONUS}]  # nothing to withdraw
    [low] = await first.say("/payout")
    assert low["text"] == (
        "Вывести бонусы пока нельзя: доступно 0.00 ₽, а минимальная сумма вывода — 100.00 ₽."
    )

    await ledger.import_orders("mos", orders_of("+79160000022", world, "o1", "o2", "o3"))
    [shown] = await first.say(MY_BONUS)
    assert keyboard(shown) == [{"text": MY_CODE}, {"text": MY_BONUS}, {"text": PAYOUT}]

    [asked] = await first.say(PAYOUT)
    assert asked["text"].startswith("Заявка №")
    assert "на вывод 150.00 ₽ создана" in asked["text"]
    assert keyboard(asked) == [{"text": MY_CODE}, {"text": MY_BONUS}, {"text": PAYOUT_CANCEL}]
    owner = Beneficiary(OwnerKind.DRIVER, (await ledger.payouts(park="mos"))[0].owner.id)
    assert (await ledger.balance(owner)).available == 0
    [again] = await first.say(PAYOUT)  # the old keyboard: nothing left above the minimum
    assert again["text"].startswith("Вывести бонусы пока нельзя: доступно 0.00 ₽")

    [cancelled] = await first.say(PAYOUT_CANCEL)
    assert "отменена. Сумма снова доступна к выводу." in cancelled["text"]
    assert (await ledger.balance(owner)).available == 15_000
    [none] = await first.say("/payout_cancel")
    assert none["text"] == "У вас нет заявок на вывод, ожидающих обработки."

    ctx = make_ctx(world.container)
    try:
        await deliver_once(ctx)  # the referral's registration notice, sent before
        before = len(world.fake.sent(first.token, first.user_id))
        [asked] = await first.say("/payout")
        [payout] = await ledger.payouts(park="mos", status=PayoutStatus.PENDING)
        await ledger.move_payout(payout.id, PayoutStatus.PROCESSING, Actor.ADMIN)
        [refused] = await first.say(PAYOUT_CANCEL)
        assert refused["text"] == (
            f"Заявку №{payout.id} на 150.00 ₽ уже обрабатывают — отменить её нельзя."
        )
        world.clock.advance(seconds=5)
        await deliver_once(ctx)
        await ledger.move_payout(payout.id, PayoutStatus.CONFIRMED, Actor.ADMIN)
        await deliver_once(ctx)
        world.clock.advance(seconds=5)
        await deliver_once(ctx)
        told = [m["text"] for m in world.fake.sent(first.token, first.user_id)[before:]]
    finally:
        await ctx.aclose()
    assert told[2:] == [
        f"Заявка на вывод 150.00 ₽ (№{payout.id}) принята в обработку.",
        f"Выплата 150.00 ₽ по заявке №{payout.id} проведена.",
    ]
    [after] = await first.say(MY_BONUS)
    assert "Баланс: 0.00 ₽" in after["text"]  # accrued minus paid
    assert keyboard(after) == [{"text": MY_CODE}, {"text": MY_BONUS}]
