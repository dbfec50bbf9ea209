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


def take(pacer: Pacer, clock: Monotonic, n: int) -> list[float]:
    """When ``n`` waiters queued at once each get their slot (advancing the fake clock)."""
    times = []
    for _ in range(n):
        while (wait := pacer.poll()) > 0:
            clock.now += wait
        times.append(clock.now)
    return times


def most_in_one_second(times: list[float]) -> int:
    return max(sum(1 for u in times if t <= u < t + 1) for t in times)


def test_pacer_spaces_a_burst_evenly_at_the_rate() -> None:
    clock = Monotonic()
    pacer = Pacer(25.0, burst=1, clock=clock)
    times = take(pacer, clock, 50)  # a burst of 50 at one instant: smoothed, none refused
    assert times == pytest.approx([100 + i / 25 for i in range(50)])
    assert most_in_one_second(times) == 25


def test_pacer_slack_absorbs_late_wakeups_without_losing_rate() -> None:
    clock = Monotonic()
    pacer = Pacer(25.0, burst=2, clock=clock)
    times = []
    for _ in range(100):
        while (wait := pacer.poll()) > 0:
            clock.now += wait + 0.005  # every sleep overshoots by 5 ms
        times.append(clock.now)
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved == pytest.approx(25, rel=0.01)
    assert most_in_one_second(times) <= 25 + 2


def test_pacer_does_not_catch_up_after_a_stall() -> None:
    clock = Monotonic()
    pacer = Pacer(10.0, burst=3, clock=clock)
    take(pacer, clock, 5)
    clock.now += 60  # the event loop (or the queue) was idle for a minute
    times = take(pacer, clock, 6)
    start = times[0]
    assert [round(t - start, 6) for t in times] == [0, 0, 0, 0.1, 0.2, 0.3]


def test_pacer_pause_after_429_holds_every_send() -> None:
    clock = Monotonic()
    pacer = Pacer(10.0, clock=clock)
    assert pacer.poll() == 0
    pacer.pause(5)
    assert pacer.paused_for() == pytest.approx(5)
    assert pacer.poll() == pytest.approx(5)
    clock.now += 5
    assert pacer.poll() == 0


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
