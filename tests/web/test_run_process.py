"""``taxireg run`` as a real process serves the web section, also when no park has a bot."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.unit.test_cli import clean_env
from tests.web.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


def _config(tmp_path: Path, port: int) -> Path:
    config = tmp_path / "taxireg.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path}"

[web]
host = "127.0.0.1"
port = {port}
public_url = "http://127.0.0.1:{port}"

[[parks]]
slug = "mos"
name = "Мос ГорТакси"
landing_url = "http://127.0.0.1:{port}/ref"
telegram_username = "mos_gortaxi_bot"
""",
        encoding="utf-8",
    )
    return config


def _env(config: Path) -> dict[str, str]:
    return clean_env(TAXIREG_CONFIG=str(config))


def _wait_ready(base: str, process: subprocess.Popen[str], seconds: float = 60) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            return httpx.get(f"{base}/readyz", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("taxireg run did not start serving")


def test_web_only_park_is_served_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = _config(tmp_path, port)
    add = subprocess.run(
        [sys.executable, "-m", "app.cli", "partner", "add", "--park", "mos",
         "--phone", "+79161112233", "--name", "Анна"],
        cwd=REPO, env=_env(config), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    code = add.stdout.strip().splitlines()[-1]  # printed alone on the last line, for scripts
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "run"],
        cwd=REPO, env=_env(config), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready = _wait_ready(base, process)
        assert ready.status_code == 200
        page = httpx.get(f"{base}/ref", params={"code": code, "src": "flyer"}, timeout=5)
        assert page.status_code == 200
        assert f"https://t.me/mos_gortaxi_bot?start={code}" in page.text
        assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_no_web_flag_with_no_bots_is_a_config_error(tmp_path: Path) -> None:
    config = _config(tmp_path, free_port())
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "run", "--no-web"],
        cwd=REPO, env=_env(config), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "nothing to run" in done.stderr
