"""``taxireg backup``: a consistent copy while registrations keep being written."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from app.bootstrap import build
from core.domain.model import Channel, Identity
from core.events import ContactShared, Incoming, Pressed, Start
from core.replies import Action
from storage.backup import BackupUnsupported, backup_sqlite
from tests.conftest import make_settings
from tests.fakes.clock import FakeClock

REPO = Path(__file__).resolve().parents[2]


async def test_copy_taken_during_registrations_is_consistent(tmp_path: Path) -> None:
    app = await build(
        make_settings(f"sqlite:///{tmp_path / 'live.db'}", tmp_path), clock=FakeClock()
    )
    stop, progress = asyncio.Event(), asyncio.Event()
    registered = 0

    async def until(count: int) -> None:
        while registered < count:
            await progress.wait()
            progress.clear()

    async def register() -> None:
        nonlocal registered
        while not stop.is_set():
            who = Identity(Channel.TELEGRAM, str(1000 + registered))
            for event in (
                Start(),
                ContactShared(f"+7916{registered:07d}", own=True),
                Pressed(Action.NO_CODE),
            ):
                await app.registration.handle(Incoming("mos", who, event))
            registered += 1
            progress.set()

    writer = asyncio.create_task(register())
    try:
        await until(20)
        copy = tmp_path / "copy.db"
        await backup_sqlite(app.db, copy)
        during = registered
        await until(during + 10)  # still writing after the copy
    finally:
        stop.set()
        await writer
        await app.aclose()
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        drivers = db.execute("SELECT count(*) FROM drivers").fetchone()[0]
        # Consistent: every driver in the copy has its own code there too.
        orphans = db.execute(
            "SELECT count(*) FROM drivers d LEFT JOIN codes c ON c.code = d.own_code "
            "WHERE c.code IS NULL"
        ).fetchone()[0]
    assert 20 <= drivers < registered
    assert orphans == 0
    app2 = await build(make_settings(f"sqlite:///{tmp_path / 'live.db'}", tmp_path))
    try:
        with pytest.raises(FileExistsError):
            await backup_sqlite(app2.db, copy)
    finally:
        await app2.aclose()


async def test_postgres_is_pointed_to_pg_dump(database_url: str, tmp_path: Path) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("the PostgreSQL case")
    app = await build(make_settings(database_url, tmp_path))
    try:
        with pytest.raises(BackupUnsupported, match="pg_dump"):
            await backup_sqlite(app.db, tmp_path / "x.db")
    finally:
        await app.aclose()


def test_cli_writes_the_copy_and_refuses_to_overwrite(tmp_path: Path) -> None:
    config = tmp_path / "taxireg.toml"
    config.write_text(
        f'data_dir = "{tmp_path}"\n[[parks]]\nslug = "mos"\nname = "M"\n'
        'landing_url = "https://m.ru/ref"\n',
        encoding="utf-8",
    )
    env = {"PATH": "/usr/bin:/bin", "TAXIREG_CONFIG": str(config)}
    run = [sys.executable, "-m", "app.cli"]
    subprocess.run([*run, "migrate"], cwd=REPO, env=env, check=True, capture_output=True)
    target = tmp_path / "b.db"
    first = subprocess.run(
        [*run, "backup", str(target)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(target) as db:
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    again = subprocess.run(
        [*run, "backup", str(target)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert again.returncode == 1
    assert "exists" in again.stderr
