"""Pacing for Telegram sends: a per-bot rate and a minimum gap per chat.

Both limiters *schedule* rather than refuse: a caller is told how long to wait for its turn,
so a burst of 1,000 alerts becomes a steady stream at the configured rate instead of a
stream of 429s. Time is a monotonic clock (the real one in production, a fake in unit tests)
because these limits are about when HTTP requests actually leave, not about the
business clock that decides when a row is due.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager

Monotonic = Callable[[], float]


class Stopped(Exception):
    """The wait was interrupted because the relay is shutting down."""


async def pause(delay: float, stop: asyncio.Event | None) -> None:
    """Sleep ``delay`` seconds; raise ``Stopped`` as soon as ``stop`` is set."""
    if stop is not None and stop.is_set():
        raise Stopped
    if delay <= 0:
        return
    if stop is None:
        await asyncio.sleep(delay)
        return
    try:
        await asyncio.wait_for(stop.wait(), delay)
    except TimeoutError:
        return
    raise Stopped


class Pacer:
    """A token bucket as a schedule (GCRA): at most ``rate`` per second, ``burst`` at once.

    ``reserve()`` books the next free slot and returns the wait until it. Slots are booked
    from the theoretical arrival time, not from when a waiter actually woke up, so timer
    jitter does not accumulate and a saturated pacer runs at the configured rate.
    """

    def __init__(self, rate: float, *, burst: int = 1, clock: Monotonic = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        # burst = 1 spaces every send evenly: Telegram counts per second and punishes
        # bursts with 429s, so smoothing is the point.
        self.tolerance = (max(1, burst) - 1) * self.interval
        self._clock = clock
        self._tat = 0.0  # theoretical arrival time of the next send
        self._paused_until = 0.0

    def reserve(self) -> float:
        now = self._clock()
        start = max(now, self._tat - self.tolerance, self._paused_until)
        self._tat = max(self._tat, start) + self.interval
        return start - now

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nobody on this bot sends before then."""
        until = self._clock() + seconds
        self._paused_until = max(self._paused_until, until)
        self._tat = max(self._tat, until)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self, stop: asyncio.Event | None = None) -> None:
        while True:
            await pause(self.reserve(), stop)
            # A 429 may have arrived while we slept on a slot booked before it.
            if self.paused_for() <= 0:
                return


class ChatSpacing:
    """At most one message per ``interval`` seconds to one chat.

    ``turn(chat)`` holds the chat for the caller until it leaves the block, which it does
    right when its request goes out; the next turn for that chat starts ``interval`` later.
    The lock makes this exact even if two messages for one chat are in flight at once.
    """

    def __init__(self, interval: float, *, clock: Monotonic = time.monotonic) -> None:
        self.interval = max(0.0, interval)
        self._clock = clock
        self._next: dict[Hashable, float] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}
        self._users: dict[Hashable, int] = {}

    def wait_for(self, chat: Hashable) -> float:
        return max(0.0, self._next.get(chat, 0.0) - self._clock())

    @asynccontextmanager
    async def turn(self, chat: Hashable, stop: asyncio.Event | None = None) -> AsyncIterator[None]:
        lock = self._locks.setdefault(chat, asyncio.Lock())
        self._users[chat] = self._users.get(chat, 0) + 1
        try:
            async with lock:
                await pause(self.wait_for(chat), stop)
                yield
                self._next[chat] = self._clock() + self.interval
        finally:
            self._users[chat] -= 1
            if not self._users[chat]:
                # Forget idle chats so a million partners do not mean a million locks.
                del self._users[chat], self._locks[chat]
                if self.wait_for(chat) <= 0:
                    self._next.pop(chat, None)
            if len(self._next) > 10_000:
                self._prune()

    def _prune(self) -> None:
        now = self._clock()
        for chat in [c for c, at in self._next.items() if at <= now and c not in self._locks]:
            del self._next[chat]
