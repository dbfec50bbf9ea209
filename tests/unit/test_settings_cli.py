"""Configuration problems through the real entry point (``python -m app.cli``): exit 2 and one
line, never a traceback; and ``taxireg --version``.

Each call is a subprocess (about a second of start-up), so they run side by side.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 60  # seconds for one command: generous, only there so a hang fails the test
TOKEN = "123456789:AAH-very-secret-telegram-token-value-xyz"
PARK = """
[[parks]]
slug = "mos"
name = "{name}"
landing_url = "https://mos.example/ref"
"""


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.upper().startswith("TAXIREG_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=REPO,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def assert_config_error(done: subprocess.CompletedProcess[str], line: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr == line + "\n"  # one line, no traceback
    assert done.stdout == ""


def test_hostile_configs_are_config_errors(tmp_path: Path) -> None:
    deep = 100_000
    arrays = write(tmp_path / "arrays.toml", "x = " + "[" * deep + "]" * deep + "\n")
    tables = write(tmp_path / "tables.toml", "x = " + "{a = " * deep + "1" + "}" * deep + "\n")
    dotted = write(tmp_path / "dotted.toml", "a" + ".a" * deep + " = 1\n")
    long_name = write(tmp_path / "name.toml", PARK.format(name="Я" * 201))
    long_url = write(
        tmp_path / "url.toml",
        PARK.format(name="M").replace("/ref", "/" + "r" * 500),
    )
    # An environment variable holds at most 128 KiB, so the JSON is less deep.
    deep_json = "[" * 20_000 + "]" * 20_000

    with ThreadPoolExecutor(max_workers=6) as pool:
        calls = [
            pool.submit(run, "--config", str(arrays), "config", "show"),
            pool.submit(run, "--config", str(tables), "config", "show"),
            pool.submit(run, "--config", str(dotted), "config", "show"),
            pool.submit(run, "--config", str(long_name), "config", "show"),
            pool.submit(run, "--config", str(long_url), "partner", "list"),
            pool.submit(run, "config", "show", TAXIREG_PARKS=deep_json),
        ]
        done = [call.result() for call in calls]

    too_deep = "config error: invalid TOML: nested too deeply"
    assert_config_error(done[0], f"{too_deep} (file {arrays})")
    assert_config_error(done[1], f"{too_deep} (file {tables})")
    assert_config_error(
        done[2],
        f"config error: invalid TOML: line 1: a key has more than 100 parts (file {dotted})",
    )
    assert_config_error(
        done[3],
        "config error: parks.0.name: String should have at most 200 characters "
        f"(file {long_name})",
    )
    assert_config_error(
        done[4],
        "config error: parks.0.landing_url: String should have at most 500 characters "
        f"(file {long_url})",
    )
    assert_config_error(done[5], "config error: a value in the environment is nested too deeply")


def test_token_file_through_config_show(tmp_path: Path) -> None:
    token = write(tmp_path / "token", TOKEN + "\n")
    config = write(
        tmp_path / "taxireg.toml",
        PARK.format(name="M")
        + f'telegram_username = "mos_bot"\ntelegram_token_file = "{token}"\n',
    )

    parks = [
        {
            "slug": "mos",
            "name": "M",
            "landing_url": "https://mos.example/",
            "telegram_username": "mos_bot",
            "telegram_token_file": str(tmp_path / "gone"),
        }
    ]

    with ThreadPoolExecutor(max_workers=2) as pool:
        shown_call = pool.submit(run, "--config", str(config), "config", "show")
        missing_call = pool.submit(run, "config", "show", TAXIREG_PARKS=json.dumps(parks))
        shown, missing = shown_call.result(), missing_call.result()

    assert shown.returncode == 0, shown.stderr
    park = json.loads(shown.stdout)["parks"][0]
    assert park["telegram_token"] == "***"
    assert park["telegram_token_file"] == str(token)
    assert "very-secret" not in shown.stdout
    assert_config_error(
        missing,
        f"config error: parks.0.telegram_token_file: file not found: {tmp_path / 'gone'} "
        "(env TAXIREG_PARKS)",
    )


def test_version() -> None:
    done = run("--version")

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"taxireg {version('taxireg')}\n"
    assert done.stderr == ""
