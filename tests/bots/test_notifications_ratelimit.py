"""Pacing and timing rules on fake clocks: schedules are computed, nothing sleeps for real."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest

from scheduler.policy import backoff_seconds, quiet_until
from scheduler.ratelimit import ChatSpacing, Pacer, Stopped, pause


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_spaces_a_burst_evenly_at_the_rate() -> None:
    clock = Monotonic()
    pacer = Pacer(25.0, clock=clock)
    waits = [pacer.reserve() for _ in range(50)]  # a burst of 50 at one instant
    assert waits[0] == 0
    assert waits == pytest.approx([i / 25 for i in range(50)])  # smoothed, none refused


def test_pacer_does_not_bank_idle_time_beyond_its_burst() -> None:
    clock = Monotonic()
    pacer = Pacer(10.0, burst=3, clock=clock)
    pacer.reserve()
    clock.now += 60  # a quiet minute
    waits = [pacer.reserve() for _ in range(5)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2])  # 3 at once, then the rate


def test_pacer_pause_after_429_moves_every_later_slot() -> None:
    clock = Monotonic()
    pacer = Pacer(10.0, clock=clock)
    assert pacer.reserve() == 0
    pacer.pause(5)
    assert pacer.paused_for() == pytest.approx(5)
    assert pacer.reserve() == pytest.approx(5)
    assert pacer.reserve() == pytest.approx(5.1)


async def test_chat_spacing_keeps_one_chat_apart_but_not_others() -> None:
    clock = Monotonic()
    spacing = ChatSpacing(1.0, clock=clock)
    async with spacing.turn("a"):
        pass
    assert spacing.wait_for("a") == pytest.approx(1.0)
    assert spacing.wait_for("b") == 0
    clock.now += 0.4
    assert spacing.wait_for("a") == pytest.approx(0.6)
    clock.now += 0.6
    assert spacing.wait_for("a") == 0


async def test_waits_end_at_once_on_stop() -> None:
    stop = asyncio.Event()
    waiter = asyncio.create_task(pause(3600, stop))
    await asyncio.sleep(0)
    stop.set()
    with pytest.raises(Stopped):
        await asyncio.wait_for(waiter, 5)


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        # Moscow = UTC+3. Quiet 23:00–08:00 crosses midnight.
        (datetime(2026, 11, 23, 19, 59, tzinfo=UTC), None),  # 22:59
        (datetime(2026, 11, 23, 20, 0, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 23, 23, 0, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 24, 4, 59, tzinfo=UTC), datetime(2026, 11, 24, 5, 0, tzinfo=UTC)),
        (datetime(2026, 11, 24, 5, 0, tzinfo=UTC), None),  # 08:00: over
    ],
)
def test_quiet_hours_across_midnight(utc: datetime, expected: datetime | None) -> None:
    assert quiet_until(utc, "Europe/Moscow", "23:00", "08:00") == expected


def test_quiet_hours_within_a_day_and_switched_off() -> None:
    lunch = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)  # 13:30 in Moscow
    assert quiet_until(lunch, "Europe/Moscow", "13:00", "14:00") == datetime(
        2026, 11, 23, 11, 0, tzinfo=UTC
    )
    assert quiet_until(lunch, "Europe/Moscow", None, None) is None
    assert quiet_until(lunch, "Europe/Moscow", "13:00", "13:00") is None


def test_quiet_hours_follow_daylight_saving_time() -> None:
    # Berlin goes from UTC+2 to UTC+1 on 2026-10-25: 08:00 local is 07:00 UTC that day.
    night = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 local
    assert quiet_until(night, "Europe/Berlin", "23:00", "08:00") == datetime(
        2026, 10, 25, 7, 0, tzinfo=UTC
    )


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(7)
    for attempt, full in [(1, 2), (2, 4), (3, 8), (4, 16), (10, 600), (30, 600)]:
        delays = [backoff_seconds(attempt, 2.0, 600.0, rng) for _ in range(200)]
        assert all(full / 2 <= d <= full for d in delays)
        assert max(delays) - min(delays) > full / 4  # jittered, not fixed
