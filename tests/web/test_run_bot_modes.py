"""Bot webhook modes in a real ``taxireg run`` process, against the fake Bot API and fake VK.

Telegram: ``[telegram] mode = "webhook"`` calls setWebhook with the public URL and the
secret token and never polls; updates POSTed to the web port with the secret register a
driver (the replies reach the fake Bot API, the driver is in the database), a wrong secret
gets 403 and changes nothing, and ``/metrics`` counts the updates, the registration and the
partner's alert. VK: ``[vk] mode = "callback"`` answers the confirmation, refuses a wrong
secret, and a registration's messages are delivered; nothing is long-polled.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.bots.processes import Child, write_config
from tests.crash.fleet import SmsGateway
from tests.fakes import telegram_updates as tg
from tests.fakes import vk_updates
from tests.fakes.telegram_server import FakeTelegram
from tests.fakes.vk_server import FakeVK
from tests.web.conftest import free_port
from web.api_webhooks_in import TELEGRAM_SECRET_HEADER

pytestmark = pytest.mark.timeout(180)

TOKEN = "424243:AAH-fake-token-for-the-webhook-process"
TG_SECRET = "tg-webhook-secret_0123456789"
ADMIN = "admin-token-0123456789"
VK_GROUP = 7001
VK_TOKEN = "vk1.a.fake-token-for-the-callback-process"
VK_SECRET = "vk-callback-secret-0123456789"
CONFIRMATION = "c0nf1rm5"
PARTNER_PHONE = "+79161112233"
PARTNER_CHAT = 500
DRIVER_CHAT = 777
DRIVER_PHONE = "+79160000001"


def park(port: int, **keys: object) -> dict[str, object]:
    return {
        "slug": "mos",
        "name": "Мос ГорТакси",
        "landing_url": f"http://127.0.0.1:{port}/ref",
        **keys,
    }


def web_section(port: int) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": port,
        "public_url": f"http://127.0.0.1:{port}",
        "admin_token": ADMIN,
    }


def rows(tmp_path: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    """Read the child's SQLite database as it stands (its own connection, read-only)."""
    with sqlite3.connect(f"file:{tmp_path / 'taxireg.db'}?mode=ro", uri=True) as db:
        return db.execute(sql, args).fetchall()


@asynccontextmanager
async def running(config: Path, log: Path) -> AsyncIterator[Child]:
    child = await Child.start(config, log)
    try:
        yield child
        assert await child.stop() == 0, child.output()
    finally:
        child.kill()
        await child.process.wait()


async def wait_ready(base: str, child: Child) -> None:
    await child.wait_log("started web")
    async with httpx.AsyncClient(timeout=5) as http:
        assert (await http.get(f"{base}/readyz")).status_code == 200


async def add_partner(base: str, phone: str) -> str:
    async with httpx.AsyncClient(timeout=10) as http:
        answer = await http.post(
            f"{base}/api/v1/admin/partners",
            json={"park": "mos", "phone": phone, "name": "Анна"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        )
    assert answer.status_code == 201, answer.text
    code: str = answer.json()["code"]
    return code


async def metric_lines(base: str, prefix: str) -> list[str]:
    async with httpx.AsyncClient(timeout=5) as http:
        text = (await http.get(f"{base}/metrics")).text
    return [line for line in text.splitlines() if line.startswith(prefix)]


async def wait_metric(base: str, line: str, child: Child) -> None:
    """Until ``/metrics`` shows ``line`` (counters move after the work they count)."""
    family = line.split("{")[0]
    for _ in range(400):
        if line in await metric_lines(base, family):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"{line!r} never showed; {family}: {await metric_lines(base, family)}\n{child.output()}"
    )


def webhook_config(
    tmp_path: Path,
    port: int,
    fake: FakeTelegram,
    notifications: dict[str, object],
    **telegram: object,
) -> Path:
    """The mos bot on ``fake`` in webhook mode, served on ``port``."""
    config = tmp_path / "taxireg.toml"
    write_config(
        config,
        {
            "": {"data_dir": str(tmp_path)},
            "telegram": {"api_server": fake.base_url, "mode": "webhook", **telegram},
            "web": web_section(port),
            "notifications": notifications,
        },
        [park(port, telegram_token=TOKEN, telegram_username="mos_gortaxi_bot")],
    )
    return config


async def test_telegram_webhook_mode_registers_and_feeds_metrics(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    hook_url = f"{base}/webhooks/telegram/mos"
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, username="mos_gortaxi_bot")
        notify = {"deliver_interval_seconds": 0.2, "per_chat_interval_seconds": 0}
        config = webhook_config(tmp_path, port, fake, notify, webhook_secret=TG_SECRET)
        async with running(config, tmp_path / "run.log") as child:
            await wait_ready(base, child)
            # setWebhook with the public URL and the secret; no polling in webhook mode.
            await fake.wait_for_requests("setWebhook", token=TOKEN, timeout=60)
            assert fake.webhook(TOKEN) is not None
            [hook] = fake.calls("setWebhook", token=TOKEN)
            assert hook.params["url"] == hook_url
            assert hook.params["secret_token"] == TG_SECRET
            partner_code = await add_partner(base, PARTNER_PHONE)

            ids = itertools.count(1)
            async with httpx.AsyncClient(timeout=30) as http:

                async def post(update: dict[str, Any], secret: str | None = TG_SECRET) -> int:
                    headers = {TELEGRAM_SECRET_HEADER: secret} if secret is not None else {}
                    body = {"update_id": next(ids), **update}
                    return (await http.post(hook_url, json=body, headers=headers)).status_code

                # Forged updates: no secret, a wrong one. Refused, and nothing changes.
                forged = tg.message(DRIVER_CHAT, f"/start {partner_code}")
                assert await post(forged, None) == 403
                assert await post(forged, "wrong-secret") == 403
                assert fake.sent() == []
                assert rows(tmp_path, "SELECT count(*) FROM conversations") == [(0,)]

                # The partner links Telegram (alerts go there), then a driver registers.
                assert await post(tg.message(PARTNER_CHAT, "/start")) == 200
                assert await post(tg.contact(PARTNER_CHAT, PARTNER_PHONE[1:])) == 200
                partner_messages = len(fake.sent(chat_id=PARTNER_CHAT))
                assert await post(tg.message(DRIVER_CHAT, f"/start {partner_code}")) == 200
                assert await post(tg.contact(DRIVER_CHAT, DRIVER_PHONE[1:])) == 200
                # Answered within the request: the replies are at the fake already.
                texts = [m["text"] for m in fake.sent(chat_id=DRIVER_CHAT)]
                [(own_code, entered, channel)] = rows(
                    tmp_path,
                    "SELECT own_code, entered_code, channel FROM drivers WHERE phone = ?",
                    DRIVER_PHONE,
                )
                assert entered == partner_code
                assert channel == "telegram"
                assert any(own_code in text for text in texts), texts

                # The partner's alert goes out through the same bot, by the scheduler.
                alerts = await fake.wait_for_sent(
                    PARTNER_CHAT, partner_messages + 1, token=TOKEN, timeout=30
                )
                alert = alerts[partner_messages]["text"]
                assert f"По вашему коду {partner_code} зарегистрировался" in alert

            registered = 'taxireg_registrations_total{channel="telegram",park="mos"} 1.0'
            await wait_metric(base, registered, child)
            handled = "taxireg_updates_handled_total"
            lines = await metric_lines(base, handled)
            assert f'{handled}{{channel="telegram",outcome="registered",park="mos"}} 1.0' in lines
            # 3 more updates answered (two /start, the partner's contact); forged ones none.
            assert f'{handled}{{channel="telegram",outcome="answered",park="mos"}} 3.0' in lines
            await wait_metric(base, 'taxireg_alerts_total{outcome="sent",park="mos"} 1.0', child)

        assert fake.calls("getUpdates") == []
        log = child.output()
        assert TG_SECRET not in log
        assert TOKEN.split(":")[1] not in log
        assert "Traceback" not in log


async def test_telegram_webhook_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    """No webhook_secret configured: one is generated into the database and reused on the
    next start, so Telegram's deliveries keep being accepted across restarts."""
    port = free_port()
    async with FakeTelegram() as fake:
        fake.add_bot(TOKEN, username="mos_gortaxi_bot")
        config = webhook_config(tmp_path, port, fake, {"enabled": False})
        for run in (1, 2):
            async with running(config, tmp_path / f"run{run}.log") as child:
                await fake.wait_for_requests("setWebhook", count=run, token=TOKEN, timeout=60)
        first, second = (c.params["secret_token"] for c in fake.calls("setWebhook"))
        assert first == second
        assert len(first) >= 32
        assert first not in child.output()


def test_webhook_mode_without_web_is_a_config_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.bots.processes import ROOT, child_env

    config = tmp_path / "taxireg.toml"
    write_config(
        config,
        {"": {"data_dir": str(tmp_path)}, "telegram": {"mode": "webhook"}},
        [park(8080, telegram_token=TOKEN, telegram_username="mos_gortaxi_bot")],
    )
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "--config", str(config), "run"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert 'telegram.mode: "webhook" needs the [web] section with public_url' in done.stderr


async def test_vk_callback_mode_confirms_refuses_and_registers(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    url = f"{base}/webhooks/vk/mos"
    async with FakeVK() as fake, SmsGateway() as sms:
        fake.add_group(VK_GROUP, VK_TOKEN, screen_name="mos_gortaxi")
        fake.add_user(501, "Иван", "Петров")
        config = tmp_path / "taxireg.toml"
        write_config(
            config,
            {
                "": {"data_dir": str(tmp_path)},
                "vk": {
                    "api_url": fake.api_url,
                    "mode": "callback",
                    "callback_secret": VK_SECRET,
                    "callback_confirmation": CONFIRMATION,
                },
                "sms": {"sender": "http", "url": sms.url},
                "web": web_section(port),
                "notifications": {"enabled": False},
            },
            [park(port, vk_group_id=VK_GROUP, vk_token=VK_TOKEN, vk_screen_name="mos_gortaxi")],
        )
        async with (
            running(config, tmp_path / "run.log") as child,
            httpx.AsyncClient(timeout=30) as http,
        ):
            await wait_ready(base, child)
            await child.wait_log("vk: 1 of 1 park bots started")
            partner_code = await add_partner(base, PARTNER_PHONE)

            async def post(
                event: dict[str, Any], secret: str | None = VK_SECRET
            ) -> httpx.Response:
                return await http.post(url, json=fake.callback_event(VK_GROUP, event, secret))

            confirmation = await post({"type": "confirmation"})
            assert confirmation.status_code == 200
            assert confirmation.text == CONFIRMATION

            forged = vk_updates.message_new(501, "Начать", ref=partner_code)
            assert (await post(forged, "wrong-secret")).status_code == 403
            assert (await post(forged, None)).status_code == 403
            assert fake.sent == []
            assert rows(tmp_path, "SELECT count(*) FROM conversations") == [(0,)]

            answer = await post(forged)
            assert (answer.status_code, answer.text) == (200, "ok")
            # Answered within the request: the welcome is at the fake already.
            assert "«Мос ГорТакси»" in fake.sent_to(501)[0].message
            assert (await post(vk_updates.message_new(501, "8 916 000-00-01"))).text == "ok"
            code = sms.last_code(DRIVER_PHONE)
            assert code is not None
            assert (await post(vk_updates.message_new(501, code))).text == "ok"
            [(own_code, entered, channel)] = rows(
                tmp_path,
                "SELECT own_code, entered_code, channel FROM drivers WHERE phone = ?",
                DRIVER_PHONE,
            )
            assert (entered, channel) == (partner_code, "vk")
            assert any(own_code in s.message for s in fake.sent_to(501))
            registered = 'taxireg_registrations_total{channel="vk",park="mos"} 1.0'
            assert registered in await metric_lines(base, "taxireg_registrations_total")

        assert fake.calls_to("groups.getLongPollServer") == []
        assert fake.polls(VK_GROUP) == 0
        log = child.output()
        assert VK_SECRET not in log
        assert VK_TOKEN not in log
        assert "Traceback" not in log


def test_callback_mode_needs_the_secret_and_a_confirmation(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.bots.processes import ROOT, child_env

    config = tmp_path / "taxireg.toml"
    port = free_port()
    for vk, expected in (
        ({"mode": "callback", "callback_confirmation": CONFIRMATION}, "vk.callback_secret"),
        ({"mode": "callback", "callback_secret": VK_SECRET}, "vk.callback_confirmation"),
    ):
        write_config(
            config,
            {"": {"data_dir": str(tmp_path)}, "vk": vk, "web": web_section(port)},
            [park(port, vk_group_id=VK_GROUP, vk_token=VK_TOKEN)],
        )
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "--config", str(config), "run"],
            cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert expected in done.stderr
        assert VK_SECRET not in done.stderr
