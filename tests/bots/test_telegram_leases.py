"""Two ``taxireg run`` processes on one PostgreSQL database: one polls, one stands by."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from app.bootstrap import build
from tests.bots.telegram_harness import ASK_CODE, ASK_CONTACT, front_end, running_world
from tests.conftest import POSTGRES_URL

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs TAXIREG_TEST_POSTGRES_URL")


async def test_the_standby_takes_over_when_the_leader_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert POSTGRES_URL is not None
    caplog.set_level(logging.INFO, logger="taxireg.telegram")
    async with running_world(POSTGRES_URL, tmp_path) as world:
        # A second process: same config, same database, its own engine and front end.
        standby_app = await build(world.settings, clock=world.clock, sms=world.sms)
        standby = front_end(standby_app)
        try:
            await standby.start()
            driver = world.chat()
            [hello] = await driver.start()  # answered by the leader
            assert hello["text"].endswith(ASK_CONTACT)
            assert sum("standing by" in m for m in caplog.messages) == 2  # both bots

            await world.stop()
            world.app, world.front = standby_app, standby  # the harness now watches it
            [ask] = await driver.share_contact("79161234567")
            assert ask["text"] == ASK_CODE
        finally:
            await standby.stop()
            await standby_app.aclose()
            world.app = world.front = None

    statuses = {r.status for r in world.fake.calls("getUpdates")}
    assert 409 not in statuses, "never two pollers on one bot"
