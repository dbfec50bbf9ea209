"""``taxireg broadcast`` through the CLI's entry point (in process, on SQLite): a dry run
queues nothing, --yes queues once, the same command again queues nothing, without --yes and
without a terminal nothing is sent, status and cancel report the counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.bootstrap import build
from app.cli import main
from app.settings import load_settings
from tests.bots.notifications_env import linked_partner, outbox
from tests.fakes.clock import FakeClock
from tests.unit.test_cli import write_config

TEXT = "Новые тарифы с понедельника.\nПодробности у диспетчера."


@pytest.fixture
async def config(tmp_path: Path) -> Path:
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    path = write_config(tmp_path / "taxireg.toml", database_url, tmp_path, telegram_token=None)
    app = await build(load_settings(path), clock=FakeClock())
    try:
        await linked_partner(app, chat_id=9100)
        await linked_partner(app, chat_id=9101)
        await linked_partner(app)  # no Telegram chat: skipped
    finally:
        await app.aclose()
    (tmp_path / "news.txt").write_text(TEXT, encoding="utf-8")
    return path


async def rows(config: Path) -> int:
    app = await build(load_settings(config), clock=FakeClock())
    try:
        return len(await outbox(app))
    finally:
        await app.aclose()


def cli(config: Path, *args: str) -> int:
    return main([*args, "--config", str(config)])


def test_dry_run_then_once_then_nothing_new(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio

    news = str(config.parent / "news.txt")
    send = ("broadcast", "--park", "mos", "--to", "partners", "--text", news)

    assert cli(config, *send, "--dry-run", "--json") == 0
    dry = json.loads(capsys.readouterr().out)
    assert (dry["recipients"], dry["skipped"], dry["sample"]) == (2, 1, TEXT)
    assert asyncio.run(rows(config)) == 0

    # Not confirmed (no --yes, and no terminal to ask on): nothing is queued.
    assert cli(config, *send) == 1
    assert "not confirmed" in capsys.readouterr().err
    assert asyncio.run(rows(config)) == 0

    assert cli(config, *send, "--yes", "--json") == 0
    made = json.loads(capsys.readouterr().out)
    assert made["created"] is True
    assert (made["recipients"], made["skipped"], made["pending"]) == (2, 1, 2)
    assert asyncio.run(rows(config)) == 2

    # The same command again: found by its key, nothing new.
    assert cli(config, *send, "--yes", "--json") == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["id"], again["created"]) == (made["id"], False)
    assert asyncio.run(rows(config)) == 2
    assert cli(config, *send, "--yes") == 0
    assert "already made" in capsys.readouterr().out

    assert cli(config, "broadcast", "status", str(made["id"]), "--json") == 0
    assert json.loads(capsys.readouterr().out)["pending"] == 2
    assert cli(config, "broadcast", "cancel", str(made["id"]), "--yes", "--json") == 0
    cancelled = json.loads(capsys.readouterr().out)
    assert (cancelled["cancelled_now"], cancelled["state"]) == (2, "cancelled")
    assert cli(config, "broadcast", "list") == 0
    assert "cancelled" in capsys.readouterr().out

    # A new key sends the same text again on purpose.
    assert cli(config, *send, "--yes", "--key", "tariffs-2", "--json") == 0
    assert json.loads(capsys.readouterr().out)["created"] is True
    assert asyncio.run(rows(config)) == 4


def test_refusals(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    news = str(config.parent / "news.txt")
    bad = ("broadcast", "--park", "mos", "--to", "drivers", "--text", news, "--filter", "x=1")
    assert cli(config, *bad, "--dry-run") == 1
    assert "bad filter" in capsys.readouterr().err
    assert cli(config, "broadcast", "status", "42") == 1
    assert "no broadcast 42" in capsys.readouterr().err
    assert cli(config, "broadcast", "--park", "mos") == 2


def test_status_counts_reminders(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(config, "status", "--json") == 0
    [mos, _] = json.loads(capsys.readouterr().out)["parks"]
    assert (mos["reminded"], mos["reminded_then_registered"]) == (0, 0)
    assert cli(config, "status") == 0
    assert "reminded (then registered)" in capsys.readouterr().out
