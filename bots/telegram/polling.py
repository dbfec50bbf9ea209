"""Long polling of one park's bot, only while this process holds the bot's lease.

Each bot has its own loop (getUpdates -> ``dp.feed_update`` as a task) instead of one
``dp.start_polling(*bots)``: the set of bots this process leads changes at run time (a
lease is won or lost on PostgreSQL), and start_polling would have to be torn down and
restarted for every change, interrupting the other parks' polls. Handling stays in the
Dispatcher, so a webhook can later feed the same ``dp.feed_update``.
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

from bots.telegram.inflight import Inflight
from bots.telegram.sender import describe
from storage.leases import Lease

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
    """How often the leader checks that its lease (its PostgreSQL session) is alive."""
    max_concurrent_updates: int = 100
    """Updates handled at once per bot; polling waits beyond that (back-pressure)."""


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
        self._lease = lease
        self._inflight = inflight
        self._options = options
        self._on_lead = on_lead
        self._allowed = dp.resolve_used_update_types()
        self._slots = asyncio.Semaphore(options.max_concurrent_updates)
        self._offset: int | None = None
        self._leading = False
        self._configured = False
        self._lease_errors = 0

    async def run(self) -> None:
        """Until cancelled: poll while leading, stand by otherwise. The lease stays held
        when cancelled: ``close()`` confirms the handled updates, then releases it."""
        announced = False
        while True:
            if not await self._acquire():
                if not announced and not self._lease_errors:
                    log.info(
                        "park %s: another process polls this bot; standing by",
                        self.park,
                        extra={"park": self.park},
                    )
                    announced = True
                await asyncio.sleep(self._options.standby_interval)
                continue
            announced = False
            self._leading = True
            log.info("park %s: polling the bot", self.park, extra={"park": self.park})
            refused = await self._lead()
            self._leading = False
            await self._lease.release()
            if refused:
                return  # only an operator can fix the token

    async def close(self) -> None:
        """Confirm what was handled (so the next leader does not get it again), release."""
        if self._leading and self._offset is not None:
            try:
                async with asyncio.timeout(2):
                    await self.bot(GetUpdates(offset=self._offset, timeout=0, limit=1))
            except Exception as exc:  # core ignores a repeated update anyway
                log.info(
                    "could not confirm handled updates",
                    extra={"park": self.park, "error": describe(exc, self.bot)},
                )
        self._leading = False
        await self._lease.release()

    async def _acquire(self) -> bool:
        try:
            got = await self._lease.acquire()
        except Exception as exc:
            self._lease_errors += 1
            # The database is down: say so once, not every few seconds until it is back.
            level = logging.WARNING if self._lease_errors == 1 else logging.DEBUG
            log.log(
                level,
                "could not take the polling lease",
                extra={"park": self.park, "error": " ".join(str(exc).split())[:300]},
            )
            return False
        self._lease_errors = 0
        return got

    async def _lead(self) -> bool:
        """Poll until the lease is lost (False) or the token is refused (True)."""
        fetching = asyncio.create_task(self._fetch_forever())
        watching = asyncio.create_task(self._watch_lease())
        try:
            await asyncio.wait({fetching, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (fetching, watching):
                task.cancel()
            await asyncio.gather(fetching, watching, return_exceptions=True)
        return fetching.done() and not fetching.cancelled() and fetching.result()

    async def _watch_lease(self) -> None:
        while True:
            await asyncio.sleep(self._options.lease_check_interval)
            if not await self._lease.alive():
                log.warning(
                    "park %s: polling lease lost; standing by",
                    self.park,
                    extra={"park": self.park},
                )
                return

    async def _fetch_forever(self) -> bool:
        """Returns True once Telegram refuses the token; every other error is retried."""
        backoff = Backoff(self._options.backoff)
        failures = 0
        while True:
            try:
                if not self._configured:
                    await self._on_lead(self.bot)
                    self._configured = True
                updates = await self._get_updates()
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
            for update in updates:
                # As aiogram does: the last id + 1, even if lower than before (Telegram picks
                # a random next id after a week without updates).
                self._offset = update.update_id + 1
                await self._slots.acquire()
                self._inflight.spawn(self._handle(update))

    async def _get_updates(self) -> list[Update]:
        timeout = self._options.polling_timeout
        method = GetUpdates(offset=self._offset, timeout=timeout, allowed_updates=self._allowed)
        # Wait longer than the long poll itself, or every quiet poll would be a timeout.
        return await self.bot(method, request_timeout=int(self.bot.session.timeout + timeout))

    async def _handle(self, update: Update) -> None:
        try:
            await self._dp.feed_update(self.bot, update)
        except Exception as exc:  # dp.errors already logged it; this is the backstop
            log.error(
                "update not handled",
                extra={
                    "park": self.park,
                    "update_id": update.update_id,
                    "error": describe(exc, self.bot),
                },
            )
        finally:
            self._slots.release()
