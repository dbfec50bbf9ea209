"""Which updates Telegram may forget: the offset moves past an update only once it is done.

``getUpdates(offset=N)`` confirms every update below N for good, so confirming an update as
soon as it is fetched loses it when the process dies before handling it (issue 10: 27-32 of
400 drivers went unanswered after a kill -9). Here an update counts as done once its unit of
work committed and its replies were sent; the offset is the oldest update not done yet.
Telegram then hands the undone ones out again; they are recognised by id and skipped while
this process still has them, and core recognises a redelivery after a restart.
"""

from __future__ import annotations

import asyncio
from collections import deque


class UpdateWindow:
    def __init__(self) -> None:
        self._order: deque[int] = deque()  # fetched, not yet confirmable, in arrival order
        self._known: set[int] = set()  # in _order, or confirmable but not yet confirmed
        self._done: set[int] = set()  # finished, still in _order behind an unfinished one
        self._confirmable: set[int] = set()  # left _order; no poll has confirmed it yet
        self._next: int | None = None
        self._changed = asyncio.Event()

    def __len__(self) -> int:
        """Updates fetched and not yet confirmable."""
        return len(self._order)

    @property
    def offset(self) -> int | None:
        """What getUpdates may confirm: everything below the oldest update not done."""
        return self._order[0] if self._order else self._next

    @property
    def busy(self) -> int:
        """Updates fetched and still being handled."""
        return len(self._order) - len(self._done)

    def add(self, update_id: int) -> bool:
        """Take a fetched update; False if it is one this process has or just handled.

        A poll sent while an update was being handled may bring it back after it finished:
        it stays known until a poll has confirmed it (``confirmed``).
        """
        if update_id in self._known:
            return False
        self._known.add(update_id)
        self._order.append(update_id)
        # As aiogram does: the last id + 1, even if lower than before (Telegram picks a
        # random next id after a week without updates).
        self._next = update_id + 1
        return True

    def finish(self, update_id: int) -> None:
        """The update was handled (committed and answered, or failed for good)."""
        if update_id not in self._known:
            return
        self._done.add(update_id)
        while self._order and self._order[0] in self._done:
            oldest = self._order.popleft()
            self._done.discard(oldest)
            self._confirmable.add(oldest)
        self._changed.set()
        self._changed = asyncio.Event()

    def confirmed(self, offset: int | None) -> None:
        """A getUpdates with ``offset`` was answered: Telegram forgot every update below it,
        so none of them can come back and they need not be remembered."""
        if offset is None:
            return
        gone = {update_id for update_id in self._confirmable if update_id < offset}
        self._confirmable -= gone
        self._known -= gone

    async def settled(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a helper
        """Wait up to ``timeout`` until nothing is being handled; True if so."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.busy:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if not await self.progress(remaining):
                return False
        return True

    async def progress(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a helper
        """Wait up to ``timeout`` for any update to finish; True if one did."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        except TimeoutError:
            return False
        return True
