"""The suite runs the same whatever `TAXIREG_*` the developer exported (tests/conftest.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.settings import load_settings

REPO = Path(__file__).resolve().parents[2]


def test_load_settings_sees_no_developer_config() -> None:
    # Run by the test below under a hostile environment; passes on its own as well.
    settings = load_settings(None)

    assert settings.parks == []
    assert settings.sms.sender == "log"


def test_developer_environment_does_not_reach_tests() -> None:
    hostile = {
        "TAXIREG_CONFIG": "/nonexistent.toml",
        "TAXIREG_PARKS": "[{not json",
        "taxireg_sms__sender": "http",  # pydantic-settings reads names case-insensitively
    }
    inner = f"{Path(__file__).relative_to(REPO)}::test_load_settings_sees_no_developer_config"

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", inner],
        cwd=REPO,
        env=os.environ | hostile,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout[-2000:]
    assert "1 passed" in done.stdout
