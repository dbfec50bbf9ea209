"""``taxireg run`` serving one park's Telegram and VK bots side by side, as a real process.

A driver registers in Telegram, then opens the park's VK bot and confirms the same phone by
SMS (the log sender writes the code to the process's log): one driver, the same code.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0  # the child imports aiogram and vkbottle and migrates: slow on a busy box
TG_TOKEN = "555001:side-by-side-telegram-token-abcdefghijkl"
VK_TOKEN = "vk-side-by-side-token"
GROUP = 1001
PHONE = "+79161234567"


def child_env() -> dict[str, str]:
    # The child reads only the config named on its command line.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXIREG_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def write_config(path: Path, data_dir: Path, api_server: str, vk_api_url: str) -> None:
    path.write_text(
        "\n".join(
            [
                f'data_dir = "{data_dir}"',
                "[telegram]",
                f'api_server = "{api_server}"',
                "polling_timeout = 1",
                "[vk]",
                f'api_url = "{vk_api_url}"',
                "[notifications]",
                "enabled = false",
                "[logging]",
                'level = "INFO"',
                "[[parks]]",
                'slug = "mos"',
                'name = "Мос ГорТакси"',
                'landing_url = "https://mos-gortaxi.ru/ref"',
                'telegram_username = "mos_gortaxi_bot"',
                f'telegram_token = "{TG_TOKEN}"',
                f"vk_group_id = {GROUP}",
                f'vk_token = "{VK_TOKEN}"',
            ]
        )
        + "\n",
        encoding="utf-8",
    )


async def sms_code(log: Path) -> str:
    """The code as the log SMS sender wrote it to the process's log."""
    async with asyncio.timeout(10):
        while True:
            text = await asyncio.to_thread(log.read_text, encoding="utf-8")
            found = re.search(r"SMS to .*?(\d{6})", text)
            if found:
                return found.group(1)
            await asyncio.sleep(0.05)


async def vk_message(vk: FakeVK, peer_id: int, part: str) -> str:
    """The first message to ``peer_id`` containing ``part``, once the bot has sent it."""
    async with asyncio.timeout(10):
        while True:
            for sent in vk.sent_to(peer_id):
                if part in sent.message:
                    return sent.message
            await vk.wait_for_sent(peer_id, len(vk.sent_to(peer_id)) + 1)


async def test_one_park_in_telegram_and_vk_from_one_process(tmp_path: Path) -> None:
    config, log = tmp_path / "taxireg.toml", tmp_path / "stderr.log"
    async with FakeTelegram() as telegram, FakeVK() as vk:
        telegram.add_bot(TG_TOKEN, "mos_gortaxi_bot")
        vk.add_group(GROUP, VK_TOKEN, screen_name="mosgortaxi")
        write_config(config, tmp_path / "data", telegram.base_url, vk.api_url)
        with log.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "--config", str(config), "run",
                cwd=tmp_path, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
                env=child_env(),
            )  # fmt: skip
            try:
                await telegram.wait_for_requests("getUpdates", token=TG_TOKEN, timeout=STARTUP)
                await vk.wait_polling(GROUP, timeout=STARTUP)

                # Telegram: /start, contact, no code.
                telegram.push_update(TG_TOKEN, tg.message(71, "/start"))
                await telegram.wait_for_sent(71, token=TG_TOKEN, timeout=10)
                telegram.push_update(TG_TOKEN, tg.contact(71, "79161234567"))
                await telegram.wait_for_sent(71, 2, token=TG_TOKEN, timeout=10)
                telegram.push_update(TG_TOKEN, tg.message(71, "У меня нет реферального кода"))
                sent = await telegram.wait_for_sent(71, 3, token=TG_TOKEN, timeout=10)
                code = re.search(r"Ваш реферальный код: (\w+)", sent[2]["text"])
                assert code is not None, sent[2]["text"]

                # VK: the same phone, confirmed by SMS, is linked to the same driver.
                vk.push_event(GROUP, vk_updates.message_new(72, "8 916 123-45-67"))
                await vk_message(vk, 72, "Мы отправили SMS")
                vk.push_event(GROUP, vk_updates.message_new(72, await sms_code(log)))
                linked = await vk_message(vk, 72, "уже зарегистрирован")
                vk_code = await vk_message(vk, 72, "Ваш реферальный код")
            finally:
                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    exit_code = await process.wait()

    output = log.read_text(encoding="utf-8")
    assert exit_code == 0, output
    assert "Этот номер уже зарегистрирован в таксопарке «Мос ГорТакси»" in linked
    assert f"Ваш реферальный код: {code.group(1)}" in vk_code
    assert TG_TOKEN not in output
    assert VK_TOKEN not in output
    assert PHONE not in output  # phones are masked in the log
    assert "Traceback" not in output
