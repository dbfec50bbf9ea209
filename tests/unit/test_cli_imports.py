"""What keeps an operator's read-only command fast, checked without timing anything: it
imports no bot framework, web framework, Alembic or ORM, and the schema check that replaces
Alembic's agrees with Alembic."""

from __future__ import annotations

import re
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from storage import revision
from storage.migrate import alembic_config
from tests.unit.test_cli import Cli, clean_env, register_driver, write_config

HEAVY = ("alembic", "aiogram", "vkbottle", "fastapi", "starlette", "uvicorn", "apscheduler")
HEAVY_MODULES = ("sqlalchemy.orm", "sqlalchemy.ext.asyncio", "fluent.runtime")


def test_the_newest_revision_from_file_names_is_alembics_head() -> None:
    assert revision.head() == ScriptDirectory.from_config(alembic_config()).get_current_head()
    names = [p.name for p in revision.VERSIONS.glob("*.py")]
    assert all(re.match(r"^\d{8}_\d{4}_\w+\.py$", name) for name in names), names


def test_an_empty_database_has_no_revision(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with engine.connect() as conn:
        assert revision.current(conn) is None
    engine.dispose()


async def test_read_only_commands_import_nothing_heavy(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'taxireg.db'}"
    await register_driver(url, tmp_path, "+79161234567", None)  # migrates, adds a driver
    config = write_config(tmp_path / "taxireg.toml", url, tmp_path)
    cli = Cli(clean_env(TAXIREG_CONFIG=str(config)))
    for args in (
        ("partner", "list"),
        ("driver", "show", "+79161234567", "--park", "mos"),
        ("status",),
        ("driver", "list", "--csv"),
    ):
        result = cli(*args, importtime=True)
        assert result.returncode == 0, result.stderr
        names = set(re.findall(r"^import time:.*\|\s+(\S+)$", result.stderr, re.M))
        assert names, "no -X importtime output"
        heavy = sorted(n for n in names if n.split(".")[0] in HEAVY or n in HEAVY_MODULES)
        assert heavy == [], (args, heavy)
