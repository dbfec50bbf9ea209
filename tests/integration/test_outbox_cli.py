"""``taxireg notifications`` and ``taxireg partner settings`` through the real entry point."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest

from app.bootstrap import build
from app.settings import load_settings
from core.domain.delivery import Final, Status
from core.domain.model import Channel, Identity, Profile
from core.events import ContactShared, Incoming, Start
from tests.bots.notifications_env import Store
from tests.fakes.clock import FakeClock
from tests.unit.test_cli import write_config

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # a hang fails the test; start-up is about a second per call
PARTNER_PHONE = "+79167770001"


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "app.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def many(env: dict[str, str], *calls: tuple[str, ...]) -> list[subprocess.CompletedProcess[str]]:
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(lambda args: run(env, *args), calls))


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if not line.startswith("import time:")]
    assert len(lines) == 1, result.stderr[-2000:]
    return lines[0]


def frameworks(result: subprocess.CompletedProcess[str]) -> set[str]:
    names = re.findall(r"^import time:.*\|\s+(\S+)$", result.stderr, re.M)
    return {n.split(".")[0] for n in names} & {"aiogram", "vkbottle", "apscheduler"}


@pytest.fixture
async def env(tmp_path: Path) -> dict[str, str]:
    """A database with one alert to the partner (dead) and one to another (undeliverable).

    SQLite only: every call is a process start, and the queries behind these commands run
    on PostgreSQL in test_outbox_claims.
    """
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    config = write_config(tmp_path / "taxireg.toml", database_url, tmp_path, telegram_token=None)

    app = await build(load_settings(config), clock=FakeClock())
    try:
        partner = await app.admin.add_partner("mos", PARTNER_PHONE, "Анна")
        other = await app.admin.add_partner("mos", "+79167770002", "Борис")
        for n, code in enumerate((partner.code, other.code)):
            who = Identity(Channel.TELEGRAM, str(4000 + n))
            for event in (Start(code), ContactShared(f"7916777100{n}", own=True)):
                await app.registration.handle(Incoming("mos", who, event, Profile("Иван")))
        store = Store(app)
        now = app.clock.now()
        lease = timedelta(seconds=60)
        first, second = await store.claim(now=now, worker="t", lease=lease, limit=10)
        await store.record([Final(first.id, Status.DEAD, "Telegram 500 x8", attempted=True)], "t")
        await store.record([Final(second.id, Status.UNDELIVERABLE, "blocked")], "t")
    finally:
        await app.aclose()
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAXIREG_")}
    return {**base, "TAXIREG_CONFIG": str(config)}


def test_list_filters_and_json(env: dict[str, str]) -> None:
    everything, dead, to_partner, unknown, bad_status, table = many(
        env,
        ("notifications", "list", "--json"),
        ("notifications", "list", "--status", "dead", "--json"),
        ("notifications", "list", "--partner", "8 916 777-00-01", "--park", "mos", "--json"),
        ("notifications", "list", "--park", "kazan"),
        ("notifications", "list", "--status", "lost"),
        ("notifications", "list"),
    )
    assert everything.returncode == 0, everything.stderr[-2000:]
    rows = json.loads(everything.stdout)
    assert [r["status"] for r in rows] == ["undeliverable", "dead"]  # newest first
    assert all("payload" not in r for r in rows)  # no driver phone numbers in listings
    assert [r["status"] for r in json.loads(dead.stdout)] == ["dead"]
    [mine] = json.loads(to_partner.stdout)
    assert (mine["status"], mine["last_error"]) == ("dead", "Telegram 500 x8")
    assert unknown.returncode == 1
    assert error_line(unknown) == "error: unknown park: kazan"
    assert bad_status.returncode == 2
    assert table.returncode == 0
    assert "Telegram 500 x8" in table.stdout
    assert frameworks(everything) == set()  # no bot framework for an admin command


def test_retry_puts_a_row_back_with_fresh_attempts(env: dict[str, str]) -> None:
    rows = json.loads(run(env, "notifications", "list", "--json").stdout)
    dead = next(r for r in rows if r["status"] == "dead")
    retried = run(env, "notifications", "retry", str(dead["id"]), "--json")
    assert retried.returncode == 0, retried.stderr[-2000:]
    data = json.loads(retried.stdout)
    assert (data["was"], data["status"], data["attempts"]) == ("dead", "pending", 0)
    assert data["last_error"] == "Telegram 500 x8"  # history kept

    missing, not_a_number = many(
        env, ("notifications", "retry", "999999"), ("notifications", "retry", "x")
    )
    assert missing.returncode == 1
    assert error_line(missing) == "error: no notification 999999"
    assert not_a_number.returncode == 2

    counts = json.loads(run(env, "status", "--json").stdout)["outbox"]
    assert counts == {"pending": 1, "undeliverable": 1}


def test_partner_settings_show_and_change(env: dict[str, str]) -> None:
    changed = run(
        env,
        "partner",
        "settings",
        PARTNER_PHONE,
        "--park",
        "mos",
        "--alerts",
        "digest",
        "--quiet",
        "22:30-7:00",
        "--json",
    )
    assert changed.returncode == 0, changed.stderr[-2000:]
    data = json.loads(changed.stdout)
    assert (data["alerts"], data["quiet_from"], data["quiet_to"]) == ("digest", "22:30", "07:00")

    off, shown, bad, nobody, wrong_park = many(
        env,
        ("partner", "settings", PARTNER_PHONE, "--park", "mos", "--quiet", "off", "--json"),
        ("partner", "settings", PARTNER_PHONE, "--park", "mos"),
        ("partner", "settings", PARTNER_PHONE, "--park", "mos", "--quiet", "late"),
        ("partner", "settings", "+79160000000", "--park", "mos"),
        ("partner", "settings", PARTNER_PHONE, "--park", "spb"),
    )
    data = json.loads(off.stdout)
    assert (data["alerts"], data["quiet_from"], data["quiet_to"]) == ("digest", None, None)
    assert shown.returncode == 0
    assert "digest" in shown.stdout
    assert bad.returncode == 2
    assert "HH:MM-HH:MM or off" in bad.stderr
    assert nobody.returncode == 1
    assert error_line(nobody) == "error: no partner with phone +79160000000 in park mos"
    assert wrong_park.returncode == 1
