"""The layers of the design card hold: import-linter's contracts in pyproject.toml pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_no_private_sqlalchemy_attributes() -> None:
    # Private attributes of SQLAlchemy's compiler and types change in any minor release.
    private = (
        "_result_columns",
        "_cached_bind_processor",
        "_cached_result_processor",
        "positiontup",
    )
    offenders = [
        f"{path.relative_to(REPO)}: {name}"
        for top in ("app", "bots", "core", "scheduler", "storage", "web", "bench")
        for path in (REPO / top).rglob("*.py")
        for name in private
        if name in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
