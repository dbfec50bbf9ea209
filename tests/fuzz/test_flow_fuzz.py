"""The registration flow under hostile input on the real stores (SQLite, PostgreSQL).

Each hypothesis example is a run of steps from several users in two parks and three
channels, sharing one database across examples (state piles up as in production); after
each run the invariants of ``tests.fuzz.world`` are read from the database.
Profiles: ``fuzz-ci`` (default, bounded and derandomized) and ``fuzz-dev`` (ten times the
examples, random), chosen with ``FUZZ_PROFILE=fuzz-dev``; they apply to this test only, not
to the session's other hypothesis tests. ``bench/fuzz.py`` runs 10^5 and more steps.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.bootstrap import Container, build
from tests.conftest import make_settings, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.fuzz.strategies import steps
from tests.fuzz.world import World, check

settings.register_profile(
    "fuzz-ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz-dev",
    max_examples=3000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
PROFILE = settings.get_profile(os.environ.get("FUZZ_PROFILE", "fuzz-ci"))

USERS = 12  # two per park and channel


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[tuple[World, asyncio.AbstractEventLoop]]:
    # Hypothesis drives a synchronous test: the container lives on a loop of our own.
    loop = asyncio.new_event_loop()
    clock, sms = FakeClock(), RecordingSms()

    async def start() -> Container:
        if database_url.startswith("postgresql"):
            await reset_postgres(database_url)
        return await build(make_settings(database_url, tmp_path), clock=clock, sms=sms)

    app = loop.run_until_complete(start())
    fuzz = World.make(app)
    assert len(fuzz.users) == USERS
    try:
        yield fuzz, loop
    finally:
        loop.run_until_complete(app.aclose())
        loop.close()


@settings(PROFILE)
@given(
    run=st.lists(st.lists(steps(USERS), min_size=1, max_size=3), min_size=1, max_size=15),
    minutes=st.integers(0, 30),
)
def test_flow_keeps_its_invariants(
    world: tuple[World, asyncio.AbstractEventLoop],
    run: list,
    minutes: int,  # type: ignore[type-arg]
) -> None:
    fuzz, loop = world

    async def go() -> list[str]:
        await fuzz.refresh_codes()
        for batch in run:  # the steps of a batch arrive at the same time
            await fuzz.burst(batch)
        fuzz.app.clock.advance(minutes=minutes)  # cooldowns and code lifetimes pass
        return await fuzz.violations()

    assert loop.run_until_complete(go()) == []


def test_the_checker_sees_violations() -> None:
    """The invariants can fail: a forged snapshot breaks each of them."""
    tables = {
        "codes": [{"code": "a74t", "park_slug": "spb", "kind": "partner", "active": True}],
        "drivers": [
            {
                "id": d,
                "park_slug": "mos",
                "phone": "+79161234567",
                "own_code": "zzzz",
                "entered_code": code,
                "name": "x\x00",
            }
            for d, code in ((1, "a74t"), (2, "qqqq"))
        ],
        "conversations": [],
        "partners": [],
        "audit_log": [],
        "sms_sends": [],
    }
    found = "\n".join(check(tables, set()))
    for expected in (
        "two drivers with phone",
        "never proved",
        "no conversation",
        "of another park",
        "does not exist",
        "own code zzzz missing",
        "drivers.name: NUL",
    ):
        assert expected in found
