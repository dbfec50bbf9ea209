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
    """GCRA (a token bucket kept as one timestamp): ``rate`` per second, ``burst`` at once.

    Slots are taken when a waiter is actually due, one waiter at a time in arrival order,
    never booked ahead: a booked-ahead schedule turns any stall of the event loop into a
    burst of every overdue send. ``burst`` is the slack for timer jitter: with 2, a waiter
    woken a little late does not cost the stream any throughput, and after a long stall at
    most 2 messages leave together. The most one bot sends in any second is thus about
    ``rate + burst``; keep ``rate`` a little under Telegram's ~30/s.
    """

    def __init__(self, rate: float, *, burst: int = 2, clock: Monotonic = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self._clock = clock
        self._tat = 0.0  # theoretical arrival time: when the next send is exactly on pace
        self._paused_until = 0.0
        self._lock = asyncio.Lock()  # FIFO: waiters are served in the order they came

    def poll(self) -> float:
        """Take a slot if one is free now (returns 0.0), else return the wait for one."""
        now = self._clock()
        start = max(self._tat - self.tolerance, self._paused_until)
        if now < start:
            return start - now
        self._tat = max(self._tat, now) + self.interval
        return 0.0

    def pause(self, seconds: float) -> None:
        """Telegram said "retry after": nobody on this bot sends before then."""
        until = self._clock() + seconds
        self._paused_until = max(self._paused_until, until)

    def paused_for(self) -> float:
        return max(0.0, self._paused_until - self._clock())

    async def acquire(self, stop: asyncio.Event | None = None) -> None:
        async with self._lock:
            while (wait := self.poll()) > 0:
                await pause(wait, stop)


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
