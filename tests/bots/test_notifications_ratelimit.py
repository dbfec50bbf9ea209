"""Pacing and timing rules on fake clocks: schedules are computed, nothing sleeps for real.

The pacing invariant is checked as Telegram would see it: a bot with one send in flight,
each request arriving at Telegram at some moment between its start and its answer.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.domain.delivery import backoff_seconds, quiet_until
from core.services.pacing import BotPacer


class Monotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def most_in_one_second(times: list[float], window: float = 1.0) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


def send_all(
    pacer: BotPacer,
    clock: Monotonic,
    chats: list[int],
    latencies: list[float],
    arrive_at: list[float],
    oversleep: float = 0.0,
) -> list[tuple[int, float]]:
    """Send to ``chats`` in order, one in flight, as the relay's lane does; returns
    (chat, arrival at Telegram). Each request takes ``latencies[i]`` and reaches Telegram
    at fraction ``arrive_at[i]`` of it; every sleep overshoots by ``oversleep``."""
    arrivals = []
    for i, chat in enumerate(chats):
        while (wait := max(pacer.bot_wait(), pacer.chat_wait(chat))) > 0:
            clock.now += wait + oversleep
        pacer.started()
        arrivals.append((chat, clock.now + latencies[i] * arrive_at[i]))
        clock.now += latencies[i]
        pacer.finished(chat)
    return arrivals


def test_a_burst_at_rate_25_never_puts_26_in_one_second() -> None:
    # The old GCRA pacer let rate + burst (27) through in a second; 28 were measured.
    clock = Monotonic()
    pacer = BotPacer(25.0, 0.0, clock=clock)
    n = 200
    sent = send_all(pacer, clock, list(range(n)), [0.001] * n, [1.0] * n, oversleep=0.005)
    times = [at for _, at in sent]
    assert most_in_one_second(times) == 25
    achieved = (len(times) - 1) / (times[-1] - times[0])
    assert achieved > 23  # strict, yet close to the configured rate
    # An even stream, not 25 at once and a pause: a fifth of a second holds 5 (+2 slack).
    assert max(sum(1 for u in times if t <= u < t + 0.2) for t in times) <= 7


def test_latency_jitter_cannot_squeeze_more_into_a_second() -> None:
    # Slow requests then fast ones: arrivals bunch up unless the window counts answers.
    clock = Monotonic()
    pacer = BotPacer(10.0, 0.0, clock=clock)
    latencies = [0.5 if i % 20 < 10 else 0.001 for i in range(100)]
    arrive = [0.0 if i % 20 < 10 else 1.0 for i in range(100)]
    sent = send_all(pacer, clock, list(range(100)), latencies, arrive)
    assert most_in_one_second([at for _, at in sent]) <= 10


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=40),
    interval=st.floats(min_value=0, max_value=3),
    sends=st.lists(
        st.tuples(
            st.integers(0, 4),  # chat
            st.floats(min_value=0, max_value=0.8),  # latency
            st.floats(min_value=0, max_value=1),  # when in it the request reaches Telegram
        ),
        min_size=1,
        max_size=80,
    ),
    oversleep=st.floats(min_value=0, max_value=0.05),
)
def test_no_window_over_the_rate_and_no_chat_gap_under_the_interval(
    rate: float, interval: float, sends: list[tuple[int, float, float]], oversleep: float
) -> None:
    clock = Monotonic()
    pacer = BotPacer(rate, interval, clock=clock)
    chats = [chat for chat, _, _ in sends]
    sent = send_all(pacer, clock, chats, [s[1] for s in sends], [s[2] for s in sends], oversleep)
    times = [at for _, at in sent]
    # Any one-second window: at most the rate (a rate under 1/s: 1 per 1/rate seconds).
    assert most_in_one_second(times) <= max(1, int(rate))
    if rate < 1:
        assert most_in_one_second(times, 1 / rate - 1e-9) <= 1
    for chat in set(chats):
        mine = [at for c, at in sent if c == chat]
        assert all(b - a >= interval - 1e-9 for a, b in itertools.pairwise(mine))


def test_hold_off_after_429_holds_every_send() -> None:
    clock = Monotonic()
    pacer = BotPacer(10.0, 0.0, clock=clock)
    assert pacer.bot_wait() == 0
    pacer.hold_off(5)
    assert pacer.bot_wait() == pytest.approx(5)
    clock.now += 5
    assert pacer.bot_wait() == 0


def test_chat_gap_keeps_one_chat_apart_but_not_others() -> None:
    clock = Monotonic()
    pacer = BotPacer(100.0, 1.0, clock=clock)
    pacer.finished("a")
    assert pacer.chat_wait("a") == pytest.approx(1.0)
    assert pacer.chat_wait("b") == 0
    clock.now += 0.4
    assert pacer.chat_wait("a") == pytest.approx(0.6)
    clock.now += 0.6
    assert pacer.chat_wait("a") == 0


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
