"""``taxireg run`` as a real process: both parks' bots answer, SIGTERM ends it cleanly."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from tests.bots.telegram_harness import MOS_TOKEN, SPB_TOKEN, TOKENS, USERNAMES
from tests.conftest import PARKS
from tests.fakes import telegram_updates as tg
from tests.fakes.telegram_server import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
# The child imports aiogram, migrates and connects: slow on a busy CI box, but bounded.
STARTUP = 60.0


def write_config(path: Path, api_server: str, data_dir: Path) -> None:
    lines = [
        f'data_dir = "{data_dir}"',
        "[database]",
        f'url = "sqlite:///{data_dir / "taxireg.db"}"',
        "[telegram]",
        f'api_server = "{api_server}"',
        "polling_timeout = 1",
        "[notifications]",
        "enabled = false",
        "[logging]",
        'level = "INFO"',
    ]
    for park in PARKS:
        lines.append("[[parks]]")
        for key in ("slug", "name", "landing_url", "telegram_username"):
            lines.append(f'{key} = "{park[key]}"')
        lines.append(f'telegram_token = "{TOKENS[park["slug"]]}"')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


async def test_taxireg_run_serves_both_bots_and_stops_on_sigterm(tmp_path: Path) -> None:
    config = tmp_path / "taxireg.toml"
    stderr_path = tmp_path / "stderr.log"
    async with FakeTelegram() as fake:
        for slug, token in TOKENS.items():
            fake.add_bot(token, USERNAMES[slug])
        write_config(config, fake.base_url, tmp_path)
        with stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "--config", str(config), "run",
                cwd=ROOT, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
            )  # fmt: skip
            try:
                for token in (MOS_TOKEN, SPB_TOKEN):
                    await fake.wait_for_requests("getUpdates", token=token, timeout=STARTUP)
                fake.push_update(MOS_TOKEN, tg.message(901, "/start"))
                fake.push_update(SPB_TOKEN, tg.message(902, "/start"))
                [mos] = await fake.wait_for_sent(901, token=MOS_TOKEN, timeout=10)
                [spb] = await fake.wait_for_sent(902, token=SPB_TOKEN, timeout=10)

                process.send_signal(signal.SIGTERM)
                async with asyncio.timeout(20):
                    code = await process.wait()
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()

    log = stderr_path.read_text(encoding="utf-8")
    assert code == 0, log
    assert "«Мос ГорТакси»" in mos["text"]
    assert "«Питер Такси»" in spb["text"]
    assert MOS_TOKEN not in log
    assert SPB_TOKEN not in log
    assert "Traceback" not in log
