from __future__ import annotations

import os

import pytest

from app.clock import SystemClock
from storage.database import SqlDatabase
from storage.leases import Lease, lock_key

POSTGRES_URL = os.environ.get("TAXIREG_TEST_POSTGRES_URL")


def test_keys_are_stable_and_distinct() -> None:
    assert lock_key("telegram:mos") == lock_key("telegram:mos")
    assert lock_key("telegram:mos") != lock_key("telegram:spb")


async def test_sqlite_always_grants(tmp_path: object) -> None:
    engine = SqlDatabase(f"sqlite:///{tmp_path}/x.db", SystemClock())
    first, second = Lease(engine, "telegram:mos"), Lease(engine, "telegram:mos")
    assert await first.acquire()
    assert await second.acquire()
    await engine.dispose()


@pytest.mark.skipif(not POSTGRES_URL, reason="needs TAXIREG_TEST_POSTGRES_URL")
async def test_postgres_grants_one_holder_and_hands_over() -> None:
    assert POSTGRES_URL is not None
    # two "processes"
    one, two = SqlDatabase(POSTGRES_URL, SystemClock()), SqlDatabase(POSTGRES_URL, SystemClock())
    try:
        first, second = Lease(one, "telegram:mos"), Lease(two, "telegram:mos")
        assert await first.acquire()
        assert not await second.acquire()
        other_bot = Lease(two, "telegram:spb")
        assert await other_bot.acquire()  # other bots are independent
        await other_bot.release()
        assert await first.alive()
        await first.release()
        assert await second.acquire()
        assert not await first.acquire()
        await second.release()
    finally:
        await one.dispose()
        await two.dispose()
