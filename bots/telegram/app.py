"""``TelegramFrontEnd``: every park's Telegram bot in the app's event loop.

One Dispatcher for the process and one ``Bot`` per park with a ``telegram_token``, all on
one HTTP session. The park of an update is the park of the bot that received it
(``bot.id`` -> slug). Each bot is long-polled by its own loop (``polling.BotPoller``) only
while this process holds the bot's lease, so several ``taxireg run`` processes on one
PostgreSQL database never poll one bot twice. A park whose token Telegram refuses is
logged once, by park, and left off; the others run.

In webhook mode (``TelegramOptions.webhook``) nothing is polled: each bot gets setWebhook
with the secret token at start, and the web front end's endpoint hands each POSTed update
to ``feed_webhook``, which runs it through the same Dispatcher.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.exceptions import TelegramAPIError, TelegramUnauthorizedError
from aiogram.types import Update
from aiogram.utils.token import TokenValidationError
from pydantic import ValidationError

from bots.common.failures import hide_sql_parameters, log_failure
from bots.telegram.commands import set_commands
from bots.telegram.dispatcher import build_dispatcher
from bots.telegram.inflight import Inflight
from bots.telegram.options import TelegramOptions, TelegramPark
from bots.telegram.polling import BotPoller
from bots.telegram.responder import Responder
from bots.telegram.sender import Sender, describe
from bots.telegram.session import make_session
from core.ports import LeaseFactory
from core.texts.catalog import Catalog

if TYPE_CHECKING:
    from core.services.registration import RegistrationService

log = logging.getLogger("taxireg.telegram")

_RESTART_DELAY = 5.0


class TelegramFrontEnd:
    name = "telegram"

    def __init__(
        self,
        options: TelegramOptions,
        *,
        registration: RegistrationService,
        catalog: Catalog,
        leases: LeaseFactory,
    ) -> None:
        self._options = options
        self._catalog = catalog
        self._leases = leases
        self._parks_by_bot: dict[int, str] = {}
        self._responder = Responder(registration, Sender(options.retry))
        self.dp = build_dispatcher(self._responder, self._parks_by_bot)
        self._inflight = Inflight()
        self._pollers: dict[str, BotPoller] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session = make_session(options.api_server)
        self.bots: dict[str, Bot] = {}
        """Park slug -> its running bot (for other parts that send, e.g. alerts)."""
        self._stopping = False

    async def start(self) -> None:
        _quiet_aiogram()
        parks = self._options.parks
        candidates = [(park, bot) for park in parks if (bot := self._make_bot(park)) is not None]
        checks = await asyncio.gather(*(self._check(park, bot) for park, bot in candidates))
        for (park, bot), usable in zip(candidates, checks, strict=True):
            if not usable:
                continue
            if bot.id in self._parks_by_bot:
                log.error(
                    "park %s: its telegram_token is the bot of park %s; park skipped",
                    park.slug,
                    self._parks_by_bot[bot.id],
                    extra={"park": park.slug},
                )
                continue
            self._parks_by_bot[bot.id] = park.slug
            self.bots[park.slug] = bot
            if self._options.webhook is not None:
                self._start_webhook(park.slug, bot)
            else:
                self._start_polling(park.slug, bot)
        log.info("telegram bots started", extra={"parks": ",".join(self.bots) or "-"})

    async def stop(self) -> None:
        """Stop polling, let updates in hand finish, confirm them, release the leases."""
        self._stopping = True  # webhook updates arriving from now on are refused (503)
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        abandoned = await self._inflight.drain(self._options.drain_timeout)
        if abandoned:
            log.warning("stopped with updates unfinished", extra={"count": abandoned})
        await asyncio.gather(*(poller.close() for poller in self._pollers.values()))
        self._tasks.clear()
        self._pollers.clear()
        await self._session.close()

    async def idle(self) -> None:
        """Return once no update is being handled (for tests and a future webhook mode)."""
        await self._inflight.idle()

    def _make_bot(self, park: TelegramPark) -> Bot | None:
        try:
            return Bot(
                park.token,
                session=self._session,
                # No parse mode: texts (and the names inside them) go out verbatim, so
                # "<b>" or "*_[" in a name can never break a message.
                default=DefaultBotProperties(parse_mode=None),
            )
        except TokenValidationError:
            log.error(
                "park %s: telegram_token is not a bot token (expected <digits>:<secret>); "
                "park skipped",
                park.slug,
                extra={"park": park.slug},
            )
            return None

    async def _check(self, park: TelegramPark, bot: Bot) -> bool:
        """getMe: False if Telegram refuses the token. A network problem is only logged:
        the park's poller keeps trying, so a Telegram outage at start-up heals itself."""
        try:
            async with asyncio.timeout(self._options.check_timeout):
                me = await bot.me()
        except TelegramUnauthorizedError:
            log.error(
                "park %s: Telegram rejected the bot token (401 Unauthorized); park skipped, "
                "fix parks.telegram_token",
                park.slug,
                extra={"park": park.slug},
            )
            return False
        except (TelegramAPIError, TimeoutError, OSError) as exc:
            log.warning(
                "park %s: getMe failed; will keep trying",
                park.slug,
                extra={"park": park.slug, "error": describe(exc, bot)},
            )
            return True
        configured = park.username
        if configured and (me.username or "").lower() != configured.lower():
            # Redirect messages and links name the configured username: say it is wrong.
            log.warning(
                "park %s: the token is the bot @%s, not the configured @%s",
                park.slug,
                me.username,
                configured,
                extra={"park": park.slug},
            )
        return True

    def _start_polling(self, slug: str, bot: Bot) -> None:
        poller = BotPoller(
            dp=self.dp,
            bot=bot,
            park=slug,
            lease=self._leases(f"{self._options.lease_prefix}:{slug}"),
            inflight=self._inflight,
            options=self._options.polling,
            on_lead=self._on_lead,
        )
        self._pollers[slug] = poller
        self._tasks[slug] = asyncio.create_task(_supervise(poller), name=f"telegram:{slug}")

    async def _on_lead(self, bot: Bot) -> None:
        """Once per bot, by the process that polls it: identity, then the command menu."""
        await bot.me()  # errors propagate: the poller retries, a 401 turns the park off
        try:
            await set_commands(bot, self._catalog)
        except TelegramUnauthorizedError:
            raise
        except Exception as exc:  # a missing menu is cosmetic; registration works anyway
            log.warning(
                "could not set the bot's commands",
                extra={"park": self._parks_by_bot.get(bot.id, "-"), "error": describe(exc, bot)},
            )

    # -- webhook mode -----------------------------------------------------------------------

    def _start_webhook(self, slug: str, bot: Bot) -> None:
        self._tasks[slug] = asyncio.create_task(
            self._register_webhook(slug, bot), name=f"telegram-webhook:{slug}"
        )

    async def _register_webhook(self, slug: str, bot: Bot) -> None:
        """setWebhook with the secret token (and the command menu), retried until it works;
        a refused token turns the park off. No lease: any process may take the POSTs."""
        webhook = self._options.webhook
        assert webhook is not None
        failures = 0
        while True:
            try:
                await bot.set_webhook(
                    url=webhook.urls[slug],
                    secret_token=webhook.secret,
                    allowed_updates=self.dp.resolve_used_update_types(),
                )
                break
            except TelegramUnauthorizedError:
                log.error(
                    "park %s: Telegram rejected the bot token (401); this park's bot is off "
                    "until parks.telegram_token is fixed",
                    slug,
                    extra={"park": slug},
                )
                self.bots.pop(slug, None)
                return
            except Exception as exc:
                failures += 1
                log.log(
                    logging.WARNING if failures == 1 else logging.DEBUG,
                    "setWebhook failed; retrying",
                    extra={"park": slug, "error": describe(exc, bot), "failures": failures},
                )
                await asyncio.sleep(self._options.webhook_retry_delay)
        log.info("telegram webhook set", extra={"park": slug})
        try:
            await self._on_lead(bot)
        except Exception as exc:  # the menu is cosmetic; updates arrive anyway
            log.warning(
                "could not set up the bot", extra={"park": slug, "error": describe(exc, bot)}
            )

    async def feed_webhook(self, park: str, update: Mapping[str, Any]) -> bool:
        """One update POSTed by Telegram (secret already checked by the web endpoint).

        Returns once it is handled and answered, so Telegram's delivery waits for the
        commit; False (not handled: the web endpoint answers 503 and Telegram retries) while
        stopping or for a park without a running bot.
        """
        bot = self.bots.get(park)
        if bot is None or self._stopping:
            return False
        try:
            parsed = Update.model_validate(update, context={"bot": bot})
        except ValidationError:
            log.warning("webhook update is not a Telegram update; ignored", extra={"park": park})
            return True  # retrying junk would not make it an update
        # A task of its own, tracked like a polled update: a dropped HTTP connection does
        # not cancel it, and stop() waits for it before closing the bots' session.
        task = self._inflight.spawn(_feed(self.dp, bot, park, parsed))
        await asyncio.shield(task)
        return True


async def _feed(dp: Dispatcher, bot: Bot, park: str, update: Update) -> None:
    try:
        await dp.feed_update(bot, update)
    except Exception as exc:  # dp.errors already logged it; this is the backstop
        hide_sql_parameters(exc)
        log.error(
            "update not handled",
            extra={"park": park, "update_id": update.update_id, "error": describe(exc, bot)},
        )


async def _supervise(poller: BotPoller) -> None:
    """A bug in the polling loop must not silence a park for good: log it, start again."""
    while True:
        try:
            await poller.run()
            return
        except Exception as error:
            log_failure(
                log,
                "park %s: polling crashed; restarting in %s s",
                poller.park,
                _RESTART_DELAY,
                exc=error,
                extra={"park": poller.park},
            )
            await asyncio.sleep(_RESTART_DELAY)


def _quiet_aiogram() -> None:
    # aiogram.event logs every update at INFO ("Update id=... is handled"): noise at our
    # volume. Our own lines carry park, step and outcome instead.
    event_log = logging.getLogger("aiogram.event")
    if event_log.level == logging.NOTSET:
        event_log.setLevel(logging.WARNING)
