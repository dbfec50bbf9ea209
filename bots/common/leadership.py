"""Doing one bot's polling only while this process holds the bot's lease.

Telegram answers a second poller of one bot with 409 and VK hands the same events to every
poller of one community, so with several ``taxireg run`` processes on one database each bot
is polled by whichever process holds its lease (``core.ports.Lease``), and another process
takes over once the holder is gone. Telegram and VK share this loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bots.common.failures import hide_sql_parameters
from core.ports import Lease


@dataclass(frozen=True)
class LeaseTiming:
    standby_interval: float = 5.0
    """How often a process without the lease tries to take it."""
    check_interval: float = 5.0
    """How often the holder checks that the lease is still its own."""


class Leadership:
    """Runs ``lead()`` while the lease is held; stands by otherwise.

    ``lead()`` returns True when the bot must stay off for good (its token was refused);
    any other end, or the loss of the lease, means: release and stand by again. When
    cancelled the lease stays held, so the owner can finish its work (confirm what it
    handled) before calling ``release()``.
    """

    def __init__(
        self,
        lease: Lease,
        *,
        park: str,
        channel: str,
        timing: LeaseTiming,
        log: logging.Logger,
    ) -> None:
        self.lease = lease
        self.park = park
        self.channel = channel
        self.timing = timing
        self.leading = False
        self._log = log
        self._errors = 0

    async def run(self, lead: Callable[[], Awaitable[bool]]) -> None:
        announced = False
        while True:
            if not await self._acquire():
                if not announced and not self._errors:
                    self._log.info(
                        "%s %s: another process polls this bot; standing by",
                        self.channel,
                        self.park,
                        extra=self._extra(),
                    )
                    announced = True
                await asyncio.sleep(self.timing.standby_interval)
                continue
            announced = False
            self.leading = True
            self._log.info(
                "%s %s: this process polls the bot", self.channel, self.park, extra=self._extra()
            )
            try:
                refused = await self._lead(lead)
            except Exception:
                await self.release()
                raise
            await self.release()
            if refused:
                return

    async def release(self) -> None:
        self.leading = False
        try:
            await self.lease.release()
        except Exception as exc:  # the lease's connection is gone, and the lease with it
            self._log.info(
                "could not release the polling lease",
                extra=self._extra(error=_one_line(exc)),
            )

    async def _acquire(self) -> bool:
        try:
            got = await self.lease.acquire()
        except Exception as exc:
            self._errors += 1
            # The database is down: say so once, not every few seconds until it is back.
            level = logging.WARNING if self._errors == 1 else logging.DEBUG
            self._log.log(
                level,
                "could not take the polling lease",
                extra=self._extra(error=_one_line(exc)),
            )
            return False
        self._errors = 0
        return got

    async def _lead(self, lead: Callable[[], Awaitable[bool]]) -> bool:
        working = asyncio.ensure_future(lead())
        watching = asyncio.create_task(self._watch())
        try:
            await asyncio.wait({working, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (working, watching):
                task.cancel()
            await asyncio.gather(working, watching, return_exceptions=True)
        if working.cancelled():
            return False
        if (error := working.exception()) is not None:
            raise error
        return bool(working.result())

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.timing.check_interval)
            try:
                alive = await self.lease.alive()
            except Exception:
                alive = False
            if not alive:
                self._log.warning(
                    "%s %s: polling lease lost; standing by",
                    self.channel,
                    self.park,
                    extra=self._extra(),
                )
                return

    def _extra(self, **fields: object) -> dict[str, object]:
        return {"park": self.park, "channel": self.channel, **fields}


def _one_line(exc: BaseException) -> str:
    hide_sql_parameters(exc)
    return " ".join(str(exc).split())[:300]
