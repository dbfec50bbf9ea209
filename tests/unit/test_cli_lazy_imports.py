"""What a read-only command does not import, beyond the frameworks ``test_cli_imports``
checks: the repositories the command does not use, phonenumbers where no phone is parsed,
and the partner cabinet (which brings the registration flow and its texts) outside
``partner referrals``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.test_cli import Cli, clean_env, write_config

NEVER = ("storage.ledger", "storage.broadcasts", "storage.outbox")


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    config = write_config(tmp_path / "taxireg.toml", f"sqlite:///{tmp_path / 't.db'}", tmp_path)
    return Cli(clean_env(TAXIREG_CONFIG=str(config)))


def imported(cli: Cli, *args: str) -> set[str]:
    result = cli(*args, importtime=True)
    assert result.returncode in (0, 1), result.stderr[-2000:]
    names = set(re.findall(r"^import time:.*\|\s+(\S+)$", result.stderr, re.M))
    assert names, "no -X importtime output"
    return names


def test_read_only_commands_leave_unused_modules_alone(cli: Cli) -> None:
    assert cli("migrate").returncode == 0
    listing = imported(cli, "partner", "list", "--json")
    assert sorted(n for n in listing if n.startswith(NEVER)) == []
    assert "phonenumbers" not in listing
    assert "core.services.partner_cabinet" not in listing
    assert "storage.repositories" in listing  # the check above sees what is imported

    card = imported(cli, "driver", "show", "+79161234567", "--park", "mos")  # none: exit 1
    assert sorted(n for n in card if n.startswith(NEVER)) == []
    assert "phonenumbers" in card  # a phone is parsed here

    status = imported(cli, "status", "--json")
    assert sorted(n for n in status if n.startswith(NEVER)) == []
