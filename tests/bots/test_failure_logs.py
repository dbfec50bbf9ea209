"""Both front ends log a failed update with its traceback but without SQL parameters
(issue 10 point 2: VK's handler logged names, user ids and code hashes from the statement)."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy.exc import IntegrityError

from tests.bots.frontend_doubles import Gate, MemoryDatabase, MemoryLeases
from tests.bots.test_at_least_once import GROUP, TOKEN, VK_TOKEN, telegram, vk
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK

pytestmark = pytest.mark.timeout(30)

SECRET_NAME = "Секретная Фамилия"
SECRET_PHONE = "+79161234567"
CODE_HASH = "5f2b9c0d7e41a8"


def database_error() -> IntegrityError:
    """What a failed write raises: the statement's parameters are in its text."""
    error = IntegrityError(
        "INSERT INTO conversations (user_id, name, phone, otp_hash) VALUES (?, ?, ?, ?)",
        ("70001", SECRET_NAME, SECRET_PHONE, CODE_HASH),
        Exception("UNIQUE constraint failed: conversations.user_id"),
    )
    assert SECRET_NAME in str(error)  # the premise: unhidden, the text carries them
    return error


def failure_text(caplog: pytest.LogCaptureFixture, logger: str) -> str:
    formatter = logging.Formatter("%(message)s")
    records = [r for r in caplog.records if r.name == logger and r.levelno >= logging.ERROR]
    assert records, f"no error logged by {logger}"
    return "\n".join(formatter.format(r) for r in records)


def assert_no_parameters(text: str) -> None:
    assert "Traceback" in text
    assert "IntegrityError" in text
    for secret in (SECRET_NAME, SECRET_PHONE, CODE_HASH, "70001"):
        assert secret not in text


async def test_vk_logs_the_failure_without_sql_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeVK() as fake:
        fake.add_group(GROUP, VK_TOKEN, "mosgortaxi")
        gate = Gate()
        gate.error = database_error()
        front = vk(fake, gate, MemoryLeases(), MemoryDatabase())
        await front.start()
        await fake.wait_polling(GROUP)
        try:
            fake.push_event(GROUP, vk_updates.message_new(70001, "Иван"))
            [sorry] = await fake.wait_for_sent(70001, 1, group_id=GROUP)
        finally:
            await front.stop()

    assert sorry.message == gate.catalog.text("ru", "try-later")
    assert_no_parameters(failure_text(caplog, "taxireg.vk"))


async def test_telegram_logs_the_failure_without_sql_parameters(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, "mos_gortaxi_bot")
        gate = Gate()
        gate.error = database_error()
        front = telegram(fake, gate, MemoryLeases())
        await front.start()
        await fake.wait_for_requests("getUpdates", token=TOKEN)
        try:
            fake.push_update(TOKEN, tg.message(70001, "Иван"))
            [sorry] = await fake.wait_for_sent(70001, token=TOKEN)
        finally:
            await front.stop()

    assert sorry["text"] == gate.catalog.text("ru", "try-later")
    assert_no_parameters(failure_text(caplog, "taxireg.telegram"))
