"""Two ``taxireg run`` processes on one PostgreSQL database (issue 9, "Done when").

Both serve one park's Telegram and VK bots. Each bot is polled by exactly one of them (the
holder of the bot's lease); the other stands by and takes over when the holder is killed,
within the lease check interval. Telegram would answer two pollers of one token with 409
(the fake does too); VK would hand both the same events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bots.processes import STARTUP, Child, write_config
from tests.conftest import POSTGRES_URL, reset_postgres
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="needs TAXIREG_TEST_POSTGRES_URL"),
    pytest.mark.timeout(150),
]

TG_TOKEN = "555002:two-processes-telegram-token-abcdefgh"
VK_TOKEN = "vk-two-processes-token"
GROUP = 1001
# The standby tries to take a free lease this often (the default of 5 s): the takeover
# must come within it, plus the time to answer.
TAKEOVER = 5.0 + 10.0
POLLS = "this process polls the bot"
STANDS_BY = "another process polls this bot; standing by"


def config(tmp_path: Path, telegram: FakeTelegram, vk: FakeVK) -> Path:
    assert POSTGRES_URL is not None
    path = tmp_path / "taxireg.toml"
    write_config(
        path,
        {
            "": {"data_dir": str(tmp_path / "data")},
            "database": {"url": POSTGRES_URL},
            "telegram": {"api_server": telegram.base_url, "polling_timeout": 1},
            "vk": {"api_url": vk.api_url},
            "notifications": {"enabled": False},
            "logging": {"level": "INFO"},
        },
        [
            {
                "slug": "mos",
                "name": "Мос ГорТакси",
                "landing_url": "https://mos-gortaxi.ru/ref",
                "telegram_username": "mos_gortaxi_bot",
                "telegram_token": TG_TOKEN,
                "vk_group_id": GROUP,
                "vk_token": VK_TOKEN,
            }
        ],
    )
    return path


async def answered(telegram: FakeTelegram, vk: FakeVK, chat: int, timeout: float) -> None:  # noqa: ASYNC109
    """A driver writes to both bots and gets an answer from each."""
    telegram.push_update(TG_TOKEN, tg.message(chat, "/start"))
    vk.push_event(GROUP, vk_updates.message_new(chat, "Начать", payload={"command": "start"}))
    await telegram.wait_for_sent(chat, token=TG_TOKEN, timeout=timeout)
    await vk.wait_for_sent(chat, 1, group_id=GROUP, timeout=timeout)


async def test_each_bot_is_polled_by_one_process_and_the_other_takes_over(
    tmp_path: Path,
) -> None:
    assert POSTGRES_URL is not None
    await reset_postgres(POSTGRES_URL)
    async with FakeTelegram() as telegram, FakeVK() as vk:
        telegram.add_bot(TG_TOKEN, "mos_gortaxi_bot")
        vk.add_group(GROUP, VK_TOKEN, screen_name="mosgortaxi")
        path = config(tmp_path, telegram, vk)
        first = await Child.start(path, tmp_path / "first.log")
        second: Child | None = None
        try:
            # The first process migrates and takes both leases...
            await first.wait_log(f"telegram mos: {POLLS}")
            await first.wait_log(f"vk mos: {POLLS}")
            await vk.wait_polling(GROUP, timeout=STARTUP)
            # ...the second finds both taken and stands by.
            second = await Child.start(path, tmp_path / "second.log")
            await second.wait_log(f"telegram mos: {STANDS_BY}")
            await second.wait_log(f"vk mos: {STANDS_BY}")
            await answered(telegram, vk, 901, timeout=10)

            first.kill()  # no release: PostgreSQL drops a dead session's advisory locks
            await first.process.wait()
            killed = asyncio.get_running_loop().time()
            await second.wait_log(f"telegram mos: {POLLS}", timeout=TAKEOVER)
            await second.wait_log(f"vk mos: {POLLS}", timeout=TAKEOVER)
            took = asyncio.get_running_loop().time() - killed
            await vk.wait_polling(GROUP, timeout=TAKEOVER)
            await answered(telegram, vk, 902, timeout=10)
        finally:
            first.kill()
            if second is not None:
                exit_code = await second.stop()

    assert exit_code == 0, second.output() if second else ""
    assert took < TAKEOVER
    # Never two pollers on the Telegram bot at once: the fake answers that with 409.
    assert 409 not in {r.status for r in telegram.calls("getUpdates", token=TG_TOKEN)}
    # Each VK message was answered once: not by two pollers, and not lost in the kill
    # (VK drops a repeated random_id, so a redelivery answered again shows nothing twice).
    for chat in (901, 902):
        texts = [s.message for s in vk.sent_to(chat, GROUP)]
        assert sum(t.startswith("Здравствуйте!") for t in texts) == 1, texts
    # Until the kill, only the first polled; the second's log says so.
    log = second.output() if second else ""
    assert log.count(f"telegram mos: {POLLS}") == 1
    assert log.count(f"vk mos: {POLLS}") == 1
    assert "Traceback" not in first.output() + log
