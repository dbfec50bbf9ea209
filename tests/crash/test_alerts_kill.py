"""kill -9 while ``taxireg run`` delivers a few hundred alerts, then restart (issue 10, 4 and 8).

Every kill comes while one send per bot is held at the fake Bot API, unanswered: the worst
case, a message Telegram may have taken whose outcome was never recorded. Counted from what
the fake received: 0 alerts lost, at most one duplicate per bot per kill.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

import pytest

from tests.bots.processes import STARTUP, Child, write_config
from tests.crash.alerts import arrivals, delivered, seed_alerts
from tests.fakes.telegram_server import FakeTelegram

pytestmark = pytest.mark.timeout(180)

TOKENS = {
    "mos": "777101:crash-alerts-mos-token-abcdefghijkl",
    "spb": "777102:crash-alerts-spb-token-abcdefghijkl",
}
PARTNERS = 100  # per park
ALERTS = 2  # per partner: 400 alerts, 200 per bot
KILLS = 3
BETWEEN_KILLS = 30  # alerts to arrive after a (re)start before the next kill
DRAINED = 60.0  # for the last process to send what is left (claims of the dead expire)
HOLD = 30.0  # the held send outlives the process it belongs to


def config(tmp_path: Path, api_server: str) -> Path:
    path = tmp_path / "taxireg.toml"
    write_config(
        path,
        {
            "": {"data_dir": str(tmp_path / "data")},
            "database": {"url": f"sqlite:///{tmp_path / 'taxireg.db'}"},
            "telegram": {"api_server": api_server, "polling_timeout": 1},
            "notifications": {
                "deliver_interval_seconds": 0.2,
                "lease_seconds": 3,  # a dead process's claims run out fast
                "batch_size": 40,
                "per_bot_rate": 40.0,  # slow enough that the kills land mid-delivery
                "per_chat_interval_seconds": 0.0,
            },
            "logging": {"level": "INFO"},
        },
        [
            {
                "slug": slug,
                "name": f"Парк {slug}",
                "landing_url": f"https://{slug}.example/ref",
                "telegram_username": f"{slug}_crash_bot",
                "telegram_token": token,
            }
            for slug, token in TOKENS.items()
        ],
    )
    return path


def total(fake: FakeTelegram) -> int:
    return sum(len(fake.calls("sendMessage", token=token)) for token in TOKENS.values())


async def until(
    fake: FakeTelegram,
    condition: Callable[[], bool],
    timeout: float,  # noqa: ASYNC109
    what: str,
) -> None:
    """Re-check ``condition()`` at each request reaching the fake; fail naming ``what``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"not within {timeout} s: {what}")
        # A bot's next request comes after the previous one's answer; the short wait also
        # re-checks after the very last answer.
        with suppress(TimeoutError):
            await fake.wait_for_requests(
                "sendMessage", count=len(fake.calls("sendMessage")) + 1,
                timeout=min(remaining, 0.5),
            )  # fmt: skip


async def test_no_alert_lost_and_one_duplicate_per_bot_per_kill(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        for slug, token in TOKENS.items():
            fake.add_bot(token, f"{slug}_crash_bot")
        path = config(tmp_path, fake.base_url)
        markers = await seed_alerts(path, list(TOKENS), PARTNERS, ALERTS)
        held_at_kill: list[dict[str, int]] = []

        for kill in range(KILLS):
            child = await Child.start(path, tmp_path / f"run{kill}.log")
            try:
                start = total(fake)
                await until(
                    fake,
                    lambda start=start: total(fake) >= start + BETWEEN_KILLS,
                    STARTUP, f"{BETWEEN_KILLS} alerts after start {kill}",
                )  # fmt: skip
                # Hold each bot's next send unanswered, then kill with both on the wire.
                before = {t: len(fake.calls("sendMessage", token=t)) for t in TOKENS.values()}
                for token in TOKENS.values():
                    fake.inject("sendMessage", token=token, delay=HOLD)
                await until(
                    fake,
                    lambda before=before: all(
                        len(fake.calls("sendMessage", token=t)) > n for t, n in before.items()
                    ),
                    30.0, "a held send of each bot",
                )  # fmt: skip
            finally:
                child.kill()
                await child.process.wait()
            held_at_kill.append({slug: len(delivered(fake, t)) for slug, t in TOKENS.items()})
            assert "Traceback" not in child.output()

        last = await Child.start(path, tmp_path / "last.log")
        try:
            await until(
                fake,
                lambda: all(delivered(fake, t) >= markers[s] for s, t in TOKENS.items()),
                STARTUP + DRAINED, "every alert delivered",
            )  # fmt: skip
        finally:
            exit_code = await last.stop()

    assert exit_code == 0, last.output()
    assert "Traceback" not in last.output()
    for slug, token in TOKENS.items():
        got = arrivals(fake, token)
        assert markers[slug] - delivered(fake, token) == set()  # 0 lost
        assert set(got) == markers[slug]  # nothing foreign, nothing crossed to the other bot
        duplicates = sum(n - 1 for n in got.values())
        print(f"bot {slug}: {len(got)} alerts, {duplicates} duplicate(s) in {KILLS} kills")
        # Every kill had one send per bot on the wire: at most one duplicate each.
        assert duplicates <= KILLS
    # The kills landed mid-delivery: each left alerts to send.
    assert all(sum(counts.values()) < sum(map(len, markers.values())) for counts in held_at_kill)
