"""The in-memory store agrees with the real ones: the same scenarios on the fake, SQLite and
PostgreSQL (when configured), with the same results.

``tests/unit/test_flow_rules.py`` relies on the fake; this is what makes that reliance fair.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.bootstrap import build
from core.domain.model import Channel, Driver, Notification, OwnerKind, Park, Partner, Source
from core.domain.registration import Conversation
from core.ports import StaleState
from core.replies import Action
from tests.conftest import PARKS, POSTGRES_URL, make_settings, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.memory_db import memory_app
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person

PHONE = "+79161234567"


@pytest.fixture(params=["memory", "sqlite", *(["postgres"] if POSTGRES_URL else [])])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock, sms: RecordingSms
) -> AsyncIterator[Any]:
    if request.param == "memory":
        yield memory_app([Park(**p) for p in PARKS], clock, sms)  # type: ignore[arg-type]
        return
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else POSTGRES_URL
    assert url is not None
    if request.param == "postgres":
        await reset_postgres(url)
    app = await build(make_settings(url, tmp_path), clock=clock, sms=sms)
    try:
        yield app
    finally:
        await app.aclose()


def driver(code: str, phone: str = PHONE, park: str = "mos") -> Driver:
    now = FakeClock().now()
    return Driver(park, phone, code, Channel.TELEGRAM, Source.NONE, created_at=now, updated_at=now)


async def test_uniqueness(store: Any) -> None:
    def work(uow: Any) -> list[object]:
        out: list[object] = [
            uow.codes.reserve("aaaa", "mos", OwnerKind.DRIVER),
            uow.codes.reserve("aaaa", "spb", OwnerKind.DRIVER),
            uow.codes.reserve("bbbb", "mos", OwnerKind.DRIVER),
            uow.codes.reserve("cccc", "spb", OwnerKind.DRIVER),
            uow.codes.lookup("aaaa"),  # reserved, owned by nobody yet: not usable
        ]
        out.append(uow.drivers.add(driver("aaaa")) is not None)
        out.append(uow.drivers.add(driver("bbbb")))  # same phone, same park
        out.append(uow.drivers.add(driver("cccc", park="spb")) is not None)  # another park
        info = uow.codes.lookup("aaaa")
        out.append((info.park, info.owner_kind, info.owner_phone, info.active))
        out.append(
            sorted((o.kind, o.park, o.code) for o in uow.codes.owners_of_phone("mos", PHONE))
        )
        out.append(uow.codes.set_active("aaaa", False))
        out.append(uow.codes.set_active("zzzz", False))
        out.append(uow.codes.lookup("aaaa").active)
        return out

    assert await store.db.run(work) == [
        True,
        False,
        True,
        True,
        None,
        True,
        None,
        True,
        ("mos", OwnerKind.DRIVER, PHONE, True),
        [(OwnerKind.DRIVER, "mos", "aaaa")],
        True,
        False,
        False,
    ]


async def test_partners_one_per_phone_per_park(store: Any) -> None:
    def work(uow: Any) -> list[object]:
        for code, park in (("pppp", "mos"), ("qqqq", "mos"), ("rrrr", "spb")):
            uow.codes.reserve(code, park, OwnerKind.PARTNER)
        first = uow.partners.add(Partner("mos", PHONE, "pppp", "Иван"))
        again = uow.partners.add(Partner("mos", PHONE, "qqqq"))
        other = uow.partners.add(Partner("spb", PHONE, "rrrr"))
        uow.partners.link_telegram(first.id, 42)
        return [
            again,
            sorted(p.park for p in uow.partners.by_phone(PHONE)),
            uow.partners.get(first.id).telegram_chat_id,
            [p.code for p in uow.partners.list("spb")] == [other.code],
        ]

    assert await store.db.run(work) == [None, ["mos", "spb"], 42, True]


async def test_conversation_versions(store: Any) -> None:
    def create(uow: Any) -> Conversation:
        conv = Conversation("mos", Channel.VK, "7")
        uow.conversations.save(conv)
        return conv

    conv = await store.db.run(create)
    assert conv.version == 1
    stale = replace(conv)

    def bump(uow: Any) -> int:
        fresh = uow.conversations.get("mos", Channel.VK, "7")
        fresh.name = "Анна"
        uow.conversations.save(fresh)
        return fresh.version

    assert await store.db.run(bump) == 2
    stale.name = "Пётр"
    with pytest.raises(StaleState):
        await store.db.run(lambda uow: uow.conversations.save(stale))
    with pytest.raises(StaleState):  # one conversation per identity
        await store.db.run(
            lambda uow: uow.conversations.save(Conversation("mos", Channel.VK, "7"))
        )
    stored = await store.db.read(lambda uow: uow.conversations.get("mos", Channel.VK, "7"))
    assert (stored.name, stored.version) == ("Анна", 2)


async def test_rollback_outbox_sms_cursors_secrets(store: Any, clock: FakeClock) -> None:
    def fails(uow: Any) -> None:
        uow.codes.reserve("dddd", "mos", OwnerKind.DRIVER)
        uow.cursors.set("vk", "1")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.db.run(fails)

    now = clock.now()
    note = Notification("mos", OwnerKind.PARTNER, 1, "driver_registered", {"a": 1}, "k1", now)

    def work(uow: Any) -> list[object]:
        uow.outbox.add(note)
        uow.outbox.add(note)  # the same key: ignored
        uow.sms.record(PHONE, "mos", Channel.VK, now - timedelta(hours=2))
        uow.sms.record(PHONE, "spb", Channel.TERMINAL, now)
        return [
            uow.codes.lookup("dddd"),
            uow.cursors.get("vk"),
            uow.secrets.get_or_create("otp", "first"),
            uow.secrets.get_or_create("otp", "second"),
            len(uow.outbox.list()),
            uow.sms.sent_since(PHONE, now - timedelta(hours=1)) == [now],
            uow.sms.forget_before(now - timedelta(hours=1)),
        ]

    assert await store.db.run(work) == [None, None, "first", "first", 1, True, 1]


async def test_flow_answers_match(store: Any, sms: RecordingSms, clock: FakeClock) -> None:
    """One conversation through most rules; the texts must be the same on every store."""
    foreign = await store.admin.add_partner("spb", "+79160000002", None)
    mine = await store.admin.add_partner("mos", "+79160000001", "Иван")
    vk = Person(store, "mos", channel=Channel.VK)
    seen = [await vk.start(f"{foreign.code}-x"), await vk.say("12"), await vk.say(PHONE)]
    code = sms.last_code(PHONE)
    wrong = "000000" if code != "000000" else "111111"
    seen += [await vk.say(wrong), await vk.say(code)]
    for _ in range(5):
        seen.append(await vk.say("zzzz"))
    seen.append(await vk.say(foreign.code))
    clock.advance(minutes=11)
    seen += [await vk.say(mine.code.upper()), await vk.press(Action.NO_CODE)]
    card = await store.admin.driver_card("mos", PHONE)
    own = card.driver.own_code
    flat = [text.replace(own, "<own>") for texts in seen for text in texts]
    unknown = (
        "Такого реферального кода нет. Проверьте код и введите его ещё раз "
        "или нажмите «У меня нет реферального кода»."
    )
    cooldown = (
        "Слишком много неверных кодов. Попробуйте снова через 10 мин. "
        "или нажмите «У меня нет реферального кода»."
    )
    assert flat == [
        "Здравствуйте! Это бот регистрации водителей таксопарка «Мос ГорТакси».",
        "Введённый промо-код не действует в этом боте. "
        "Для регистрации перейдите в бот @spb_taxi_bot",
        "Для регистрации введите номер мобильного телефона, например +7 916 123-45-67. "
        "На него придёт SMS с кодом подтверждения.",
        "Не получилось распознать номер. "
        "Введите номер мобильного телефона, например +7 916 123-45-67.",
        "Мы отправили SMS с кодом на номер +79161234567. Введите код из 6 цифр.",
        "Неверный код. Осталось попыток: 4.",
        "Введите реферальный код, если он у вас есть "
        '(нажмите кнопку "У меня нет реферального кода", если кода нет)',
        *[unknown] * 4,
        cooldown,
        cooldown,  # the foreign code during the cooldown
        f"Реферальный код {mine.code} принят.",
        "Регистрация завершена!",
        "Ваш реферальный код: <own>\n"
        "Ссылки для регистрации в приложениях и ботах: https://mos-gortaxi.ru/ref?code=<own>",
        "Эта кнопка уже не действует.",
        "Чтобы получить свой реферальный код, нажмите «Мой реферальный код» или отправьте /code.",
    ]
    assert (card.driver.entered_code, card.driver.referrer_id) == (mine.code, mine.id)
