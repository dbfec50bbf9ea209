"""«Мои бонусы» payouts through the real VK front end (vkbottle, FakeVK, a real database): the
button appears once the balance reaches the minimum, pressing it requests the whole available
balance, the cancel button cancels it, and a request in processing cannot be cancelled."""

from __future__ import annotations

from datetime import UTC

import pytest

from core.domain.bonus_config import program_from_config
from core.domain.bonus_payouts import Actor, PayoutStatus
from core.domain.bonus_records import OrderInput
from core.replies import Action
from tests.bots.vk_harness import VkWorld, payloads, texts

pytest_plugins = ("tests.bots.vk_fixtures",)
pytestmark = pytest.mark.timeout(30)

RULES = {
    "payout_minimum_kopecks": 10_000,
    "rules": [
        {"version": 1, "starts_at": "2026-01-01T00:00:00+03:00", "levels": [{"percent": "10"}]}
    ],
}
MENU = [{"action": "my_code"}, {"action": "my_bonus"}]


async def register(vk: VkWorld, peer: int, phone: str, code: str | None) -> None:
    vk.fake.add_user(peer, "Иван", "Петров")
    user = vk.user(peer)
    await user.start(expect=3, ref=code) if code else await user.start()
    await user.say(phone)
    if code:
        await user.say(vk.sms.last_code(phone), expect=2)
    else:
        await user.say(vk.sms.last_code(phone))
        await user.press(Action.NO_CODE, expect=2)


async def test_payout_buttons_in_vk(vk: VkWorld) -> None:
    vk.container.ledger.programs["mos"] = program_from_config("mos", "Europe/Moscow", RULES)
    await register(vk, 601, "+79160000601", None)
    first = await vk.container.admin.driver_card("mos", "+79160000601")
    await register(vk, 602, "+79160000602", first.driver.own_code)
    user = vk.user(601)

    [empty] = await user.press(Action.MY_BONUS)
    assert payloads(empty) == MENU
    now = vk.clock.now().astimezone(UTC)
    orders = [
        OrderInput(f"v{i}", now, 100_000, "completed", driver_phone="+79160000602")
        for i in range(2)
    ]
    await vk.container.ledger.import_orders("mos", orders)

    [shown] = await user.press(Action.MY_BONUS)
    assert "Баланс: 200.00 ₽" in shown.message
    assert payloads(shown) == [*MENU, {"action": "payout"}]
    [asked] = await user.press(Action.PAYOUT)
    assert "на вывод 200.00 ₽ создана" in asked.message
    assert payloads(asked) == [*MENU, {"action": "payout_cancel"}]
    [cancelled] = await user.press(Action.PAYOUT_CANCEL)
    assert "отменена" in cancelled.message

    [again] = await user.say("/payout")
    [payout] = await vk.container.ledger.payouts(park="mos", status=PayoutStatus.PENDING)
    assert f"№{payout.id}" in again.message
    await vk.container.ledger.move_payout(payout.id, PayoutStatus.PROCESSING, Actor.ADMIN)
    refused = await user.press(Action.PAYOUT_CANCEL)
    assert texts(refused) == [
        f"Заявку №{payout.id} на 200.00 ₽ уже обрабатывают — отменить её нельзя."
    ]
