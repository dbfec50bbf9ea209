"""Long polling of one park's bot, only while this process holds the bot's lease.

Each bot has its own loop (getUpdates -> ``dp.feed_update`` as a task) instead of one
``dp.start_polling(*bots)``: the set of bots this process leads changes at run time (a
lease is won or lost on PostgreSQL), and start_polling would have to be torn down and
restarted for every change, interrupting the other parks' polls. Handling stays in the
Dispatcher, so a webhook can later feed the same ``dp.feed_update``.

Updates are confirmed to Telegram (the next getUpdates' offset) only once they are handled:
see ``bots.telegram.window``. A batch is handled concurrently (one user's updates in order)
and the next poll waits for it, up to ``straggler_wait``; a slower update does not hold the
others up for longer than that.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramConflictError, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from aiogram.utils.backoff import Backoff, BackoffConfig

from bots.common.failures import hide_sql_parameters
from bots.common.leadership import Leadership, LeaseTiming
from bots.telegram.inflight import Inflight
from bots.telegram.sender import describe
from bots.telegram.window import UpdateWindow
from core.ports import Lease

log = logging.getLogger("taxireg.telegram")

# aiogram's own polling schedule: 1 s after a failed getUpdates, growing to 5 s.
DEFAULT_BACKOFF = BackoffConfig(min_delay=1.0, max_delay=5.0, factor=1.3, jitter=0.1)


@dataclass(frozen=True)
class PollingOptions:
    polling_timeout: int = 30
    """getUpdates long-poll timeout (``[telegram] polling_timeout``)."""
    backoff: BackoffConfig = DEFAULT_BACKOFF
    """Delays after a failed getUpdates."""
    standby_interval: float = 5.0
    """How often a process without the lease tries to take it."""
    lease_check_interval: float = 5.0
    """How often the leader checks that its lease is alive."""
    max_concurrent_updates: int = 100
    """Updates handled at once per bot; polling waits beyond that (back-pressure)."""
    straggler_wait: float = 0.5
    """How long the next poll waits for the updates in hand before polling past them."""


class BotPoller:
    def __init__(
        self,
        *,
        dp: Dispatcher,
        bot: Bot,
        park: str,
        lease: Lease,
        inflight: Inflight,
        options: PollingOptions,
        on_lead: Callable[[Bot], Awaitable[None]],
    ) -> None:
        self.bot, self.park = bot, park
        self._dp = dp
        self._inflight = inflight
        self._options = options
        self._on_lead = on_lead
        self._allowed = dp.resolve_used_update_types()
        self._slots = asyncio.Semaphore(options.max_concurrent_updates)
        self.window = UpdateWindow()
        self._configured = False
        self._leadership = Leadership(
            lease,
            park=park,
            channel="telegram",
            timing=LeaseTiming(options.standby_interval, options.lease_check_interval),
            log=log,
        )

    async def run(self) -> None:
        """Until cancelled: poll while leading, stand by otherwise. The lease stays held
        when cancelled: ``close()`` confirms the handled updates, then releases it."""
        await self._leadership.run(self._fetch_forever)

    async def close(self) -> None:
        """Confirm what was handled (so the next leader does not get it again), release.

        Call after the updates in hand finished or were cancelled: a cancelled update is
        not confirmed, so whoever polls next gets it again.
        """
        offset = self.window.offset
        if self._leadership.leading and offset is not None:
            try:
                async with asyncio.timeout(2):
                    await self.bot(GetUpdates(offset=offset, timeout=0, limit=1))
            except Exception as exc:  # core recognises a repeated update anyway
                log.info(
                    "could not confirm handled updates",
                    extra={"park": self.park, "error": describe(exc, self.bot)},
                )
        await self._leadership.release()

    async def _fetch_forever(self) -> bool:
        """Returns True once Telegram refuses the token; every other error is retried."""
        backoff = Backoff(self._options.backoff)
        failures = 0
        while True:
            if self.window.busy:
                await self.window.settled(self._options.straggler_wait)
            try:
                if not self._configured:
                    await self._on_lead(self.bot)
                    self._configured = True
                offset = self.window.offset
                updates = await self._get_updates(offset)
            except TelegramUnauthorizedError:
                log.error(
                    "park %s: Telegram rejected the bot token (401); this park's bot is off "
                    "until parks.telegram_token is fixed",
                    self.park,
                    extra={"park": self.park},
                )
                return True
            except Exception as exc:
                failures += 1
                # One warning per outage, not one per retry.
                level = logging.WARNING if failures == 1 else logging.DEBUG
                hint = (
                    " (another poller or a webhook?)"
                    if isinstance(exc, TelegramConflictError)
                    else ""
                )
                log.log(
                    level,
                    "polling failed%s; retrying",
                    hint,
                    extra={
                        "park": self.park,
                        "error": describe(exc, self.bot),
                        "failures": failures,
                    },
                )
                await backoff.asleep()
                continue
            if failures:
                log.info("polling works again", extra={"park": self.park, "failures": failures})
                failures = 0
                backoff.reset()
            self.window.confirmed(offset)
            fresh = [update for update in updates if self.window.add(update.update_id)]
            if updates and not fresh:
                # Only updates still in hand came back: wait for one to finish, not spin.
                await self.window.progress(self._options.straggler_wait)
            for update in fresh:
                await self._slots.acquire()
                self._inflight.spawn(self._handle(update))

    async def _get_updates(self, offset: int | None) -> list[Update]:
        timeout = self._options.polling_timeout
        method = GetUpdates(offset=offset, timeout=timeout, allowed_updates=self._allowed)
        # Wait longer than the long poll itself, or every quiet poll would be a timeout.
        return await self.bot(method, request_timeout=int(self.bot.session.timeout + timeout))

    async def _handle(self, update: Update) -> None:
        try:
            try:
                await self._dp.feed_update(self.bot, update)
            except Exception as exc:  # dp.errors already logged it; this is the backstop
                hide_sql_parameters(exc)
                log.error(
                    "update not handled",
                    extra={
                        "park": self.park,
                        "update_id": update.update_id,
                        "error": describe(exc, self.bot),
                    },
                )
            # Not reached when cancelled (stopping): that update is left for redelivery.
            self.window.finish(update.update_id)
        finally:
            self._slots.release()
