"""``taxireg demo`` serves the landing page and prints a partner's page URL that opens."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.unit.test_cli import clean_env

REPO = Path(__file__).resolve().parents[2]


def test_demo_prints_a_landing_url_that_opens() -> None:
    env = clean_env()
    demo = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "demo"],
        cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert demo.stdout is not None
    assert demo.stdin is not None
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = demo.stdout.readline()
            assert line, demo.stderr.read() if demo.stderr else "demo ended"
            found = re.search(r"(http://127\.0\.0\.1:\d+/ref\?code=(\w+))", line)
            if found:
                url, code = found.group(1), found.group(2)
        assert url is not None, "no landing URL printed"
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        assert code in page.text
        assert f"https://t.me/mos_gortaxi_bot?start={code}" in page.text
    finally:
        demo.stdin.write("/quit\n")
        demo.stdin.flush()
        demo.communicate(timeout=30)
    assert demo.returncode == 0
