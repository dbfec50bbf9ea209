"""Strict pacing of one bot's sends: a sliding window per bot and a gap per chat.

Both limits are kept on the times sends *finished* (the HTTP answer arrived), and a send
starts only when the limit allows it. Because a bot has at most one send in flight, a
request reaches Telegram after it starts and before it finishes, so a bound on
"finish of an earlier send -> start of a later one" is a bound on what Telegram sees,
whatever the network latency did meanwhile:

- no sliding second holds more than the configured rate (25/s, and 25.5/s too: 25 per
  second; a rate under 1/s means 1 per 1/rate seconds);
- no chat gets two requests less than ``chat_interval`` seconds apart.

Besides, starts are spread at ``1/rate`` (a GCRA schedule with room for two at once, so a
late timer costs no throughput), so a queue drains as an even stream rather than a whole
second's worth at once and then a pause. That alone would not be strict (a slow request
followed by a fast one arrive closer together), which is what the window is for.

Time is a monotonic clock: these limits are about when HTTP requests leave, not about the
business clock that decides when a row is due.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Hashable

Monotonic = Callable[[], float]


class BotPacer:
    def __init__(
        self,
        rate: float,
        chat_interval: float,
        *,
        clock: Monotonic = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        # "At most rate per second" in every sliding second: 25.5/s allows 25. Under one
        # per second the window stretches instead: 0.5/s is 1 per 2 s.
        self.per_window = max(1, math.floor(rate))
        self.window = 1.0 if rate >= 1 else 1.0 / rate
        self.chat_interval = max(0.0, chat_interval)
        self._clock = clock
        self._finished: deque[float] = deque(maxlen=self.per_window)
        self._chats: dict[Hashable, float] = {}  # chat -> when its last send finished
        self._paused_until = 0.0
        self._spacing = 1.0 / rate
        self._due = -math.inf  # when the next start is exactly on the even schedule

    def hold_off(self, seconds: float) -> None:
        """Nobody on this bot sends for ``seconds`` (a 429, or a fresh lease: see below)."""
        self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def bot_wait(self) -> float:
        """Seconds until the bot may start its next send."""
        now = self._clock()
        wait = max(self._paused_until, self._due - self._spacing) - now
        if len(self._finished) == self.per_window:
            wait = max(wait, self._finished[0] + self.window - now)
        return max(0.0, wait)

    def chat_wait(self, chat: Hashable) -> float:
        last = self._chats.get(chat)
        if last is None:
            return 0.0
        return max(0.0, last + self.chat_interval - self._clock())

    def started(self) -> None:
        """A send is leaving now."""
        self._due = max(self._due, self._clock()) + self._spacing

    def finished(self, chat: Hashable) -> None:
        """A send to ``chat`` got its answer (whatever it was: the request reached Telegram)."""
        now = self._clock()
        self._finished.append(now)
        self._chats[chat] = now
        if len(self._chats) > 10_000:
            # Forget chats whose gap is over, so a million partners are not a million keys.
            horizon = now - self.chat_interval
            self._chats = {c: at for c, at in self._chats.items() if at > horizon}
