"""Updates being handled right now, so stopping can let them finish."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class Inflight:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        self._idle.clear()
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not self._tasks:
            self._idle.set()

    async def idle(self) -> None:
        """Return once nothing is being handled (immediately if nothing is)."""
        await self._idle.wait()

    async def drain(self, timeout: float) -> int:  # noqa: ASYNC109 - a grace period, not a wait helper
        """Wait up to ``timeout`` for running updates; cancel the rest; return how many."""
        if not self._tasks:
            return 0
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        return len(pending)
