"""``forget``: a driver's personal data leaves every table, the anonymous record keeps the
counts, the erasure is audited (who, when, never what), and the number can register again.

Runs on SQLite and PostgreSQL. The scan reads every text column of every table the schema
defines, so a table added later that keeps a phone is caught here.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, cast, func, inspect, or_, select

from app.bootstrap import Container
from core.domain.bonus import Beneficiary
from core.domain.errors import DriverNotFound
from core.domain.model import Channel, OwnerKind
from core.replies import Action
from core.services.erasure import FORGOTTEN, AlreadyForgotten
from core.services.partner_cabinet import _view
from core.services.webhooks import Endpoint, registered_hook
from storage import tables as t
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person

PHONE = "+79161234567"
NAME = "Евлампий Забытый"
TG_CHAT = "5550001117"
VK_USER = "7770002229"


def _needles() -> list[str]:
    return [PHONE, PHONE[1:], PHONE[2:], "Евлампий", "Забытый", TG_CHAT, VK_USER]


async def scan(app: Container) -> dict[str, list[str]]:
    """Every (table.column) whose text holds a needle, over every table of the schema."""

    def work(conn: Any) -> dict[str, list[str]]:
        stored = set(inspect(conn).get_table_names()) - {"alembic_version"}
        assert stored <= set(t.metadata.tables), "a table the scan does not know"
        found: dict[str, list[str]] = {}
        for table in t.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for column in columns:
                as_text = cast(column, Text)
                hits = conn.execute(
                    select(func.count()).where(
                        or_(*(as_text.contains(needle) for needle in _needles()))
                    )
                ).scalar_one()
                if hits:
                    found.setdefault(table.name, []).append(column.name)
        return found

    return await app.db.run_on_connection(work, readonly=True)


async def register_everywhere(app: Container, sms: RecordingSms, code: str) -> Person:
    """The driver writes to the VK bot first (an SMS is sent, then abandoned), then
    registers in Telegram with the partner's link."""
    vk = Person(app, "mos", Channel.VK, user_id=VK_USER, name=NAME)
    await vk.start()
    await vk.say(PHONE)
    assert sms.last_code(PHONE)
    tg = Person(app, "mos", Channel.TELEGRAM, user_id=TG_CHAT, name=NAME)
    await tg.start(code)
    texts = await tg.share_contact(PHONE)
    assert texts[0] == "Регистрация завершена!", texts
    await tg.command("news")  # mailing opt-in, to be erased too
    return tg


async def test_forget_erases_everywhere_keeps_counts_and_allows_a_fresh_start(
    container: Container, sms: RecordingSms
) -> None:
    app = container
    endpoints = {"mos": Endpoint("https://crm.example/hook", "s" * 32)}
    app.registration.on_registered.append(registered_hook(endpoints))
    partner = await app.admin.add_partner("mos", "+79990000001", "Партнёр")
    assert partner.id is not None
    await register_everywhere(app, sms, partner.code)
    card = await app.admin.driver_card("mos", PHONE)
    driver = card.driver
    assert driver.id is not None
    assert driver.name == NAME
    # The driver refers someone too: their count must survive the erasure.
    friend = Person(app, "mos", Channel.TELEGRAM, name="Друг")
    await friend.start(driver.own_code)
    await friend.share_contact("+79160000077")
    await app.admin.set_entered_code("mos", PHONE, None, "olga")  # an audited change
    partner_owner = Beneficiary(OwnerKind.PARTNER, partner.id)
    driver_owner = Beneficiary(OwnerKind.DRIVER, driver.id)

    def counts(uow: Any) -> tuple[int, int, int]:
        return (
            uow.ledger.referral_count(partner_owner),
            uow.ledger.referral_count(driver_owner),
            len(uow.cabinet.referrals([partner.id])),
        )

    await app.admin.set_entered_code("mos", PHONE, partner.code, "olga")
    before = await app.db.read(counts)
    assert before == (1, 1, 1)
    found = await scan(app)
    assert set(found) >= {"drivers", "conversations", "sms_sends", "outbox", "webhook_outbox"}
    assert "audit_log" not in found  # the entered-code changes name no one

    done = await app.admin.forget_driver("mos", "8 916 123-45-67", "olga")

    assert done.driver_id == driver.id
    assert await scan(app) == {}
    assert await app.db.read(counts) == before
    row = (await app.db.read(lambda uow: uow.cabinet.referrals([partner.id])))[0]
    view = _view(row)
    assert view.erased
    assert view.first_name is None
    assert view.phone_masked == ""
    audit = await app.db.read(lambda uow: uow.audit.for_driver(driver.id))
    erasure = [a for a in audit if a.field == FORGOTTEN]
    assert len(erasure) == 1
    assert (erasure[0].actor, erasure[0].old, erasure[0].new) == ("olga", None, None)
    assert erasure[0].at == app.clock.now()
    gone = await app.db.read(lambda uow: uow.drivers.get(driver.id))
    assert gone is not None
    assert gone.forgotten_at == app.clock.now()
    assert gone.own_code == driver.own_code  # the anonymous record keeps its code ...
    info = await app.db.read(lambda uow: uow.codes.lookup(driver.own_code))
    assert info is not None
    assert not info.active

    # Final: a second erasure finds nothing, by phone or by id.
    with pytest.raises(DriverNotFound):
        await app.admin.forget_driver("mos", PHONE, "olga")
    with pytest.raises(AlreadyForgotten):
        await app.admin.forget_driver_id(driver.id, "olga")

    # The same number, in the same chat, starts fresh as a new driver.
    again = Person(app, "mos", Channel.TELEGRAM, user_id=TG_CHAT, name=NAME)
    texts = await again.start(partner.code)
    assert texts[0].startswith("Здравствуйте") or "Мос" in texts[0]
    assert (await again.share_contact(PHONE))[0] == "Регистрация завершена!"
    fresh = (await app.admin.driver_card("mos", PHONE)).driver
    assert fresh.id != driver.id
    assert fresh.own_code != driver.own_code
    assert fresh.mailing_at is None  # no consent carried over from the erased record
    assert (await app.db.read(counts))[0] == 2


async def test_forget_refuses_unknown_drivers_and_changes_nothing(
    container: Container, sms: RecordingSms
) -> None:
    app = container
    tg = Person(app, "mos", Channel.TELEGRAM, user_id=TG_CHAT, name=NAME)
    await tg.start()
    await tg.share_contact(PHONE)
    await tg.press(Action.NO_CODE)
    before = await scan(app)
    with pytest.raises(DriverNotFound):
        await app.admin.forget_driver("spb", PHONE, "olga")  # another park's driver
    with pytest.raises(DriverNotFound):
        await app.admin.forget_driver_id(10**6, "olga")
    assert await scan(app) == before
    assert (await app.admin.driver_card("mos", PHONE)).driver.name == NAME
