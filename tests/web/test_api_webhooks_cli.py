"""``taxireg webhooks list|send|retry`` as a real process over a SQLite database holding one
``driver.registered`` event for a receiver that is down."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.bootstrap import build
from app.settings import load_settings
from app.wiring_webhooks import install_webhooks
from core.domain.model import Channel, Identity, Profile
from core.events import ContactShared, Incoming, Start
from tests.conftest import PARKS
from tests.fakes.clock import FakeClock
from tests.web.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
async def env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "taxireg.toml"
    lines = [f"data_dir = {json.dumps(str(tmp_path))}", "[database]"]
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    lines.append(f"url = {json.dumps(database_url)}")
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    extra = {"mos": {"webhook_url": down, "webhook_secret": "whsec-0123456789abcdef"}}
    for park in PARKS:
        lines.append("[[parks]]")
        values = {**park, **extra.get(str(park["slug"]), {})}
        lines.extend(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in values.items())
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    app = await build(load_settings(config), clock=FakeClock())
    try:
        install_webhooks(app)
        who = Identity(Channel.TELEGRAM, "5001")
        partner = await app.admin.add_partner("mos", "+79167770001", "Анна")
        for event in (Start(partner.code), ContactShared("79167771000", own=True)):
            await app.registration.handle(Incoming("mos", who, event, Profile("Иван")))
    finally:
        await app.aclose()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAXIREG_")}
    return {**base, "TAXIREG_CONFIG": str(config)}


def test_list_send_and_retry(env: dict[str, str]) -> None:
    listed = run(env, "webhooks", "list")
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    row_id, status, park, kind = line.split("\t")[:4]
    assert (status, park, kind) == ("pending", "mos", "driver.registered")
    assert "whsec" not in listed.stdout + listed.stderr

    sent = run(env, "webhooks", "send")
    assert sent.returncode == 0, sent.stderr
    assert "sent 0, to retry 1, failed 0" in sent.stdout
    after = run(env, "webhooks", "list", "--status", "pending")
    assert "attempts=1" in after.stdout
    assert "ConnectError" in after.stdout

    retried = run(env, "webhooks", "retry", row_id)
    assert retried.returncode == 0, retried.stderr
    assert "attempts=0" in run(env, "webhooks", "list").stdout
    missing = run(env, "webhooks", "retry", "999")
    assert missing.returncode == 1
    assert "no pending or failed webhook with id 999" in missing.stderr
