"""``taxireg run``: every configured front end and the scheduler in one event loop.

Each part is optional and imported only when configured (aiogram and vkbottle take seconds
to import). A part implements ``Part``: ``start()`` returns once it is serving (its polling
runs in background tasks), ``stop()`` ends it gracefully. A park whose token is wrong is
reported by its part and skipped; the other parks keep running.

The front ends get options built here from the settings, and the core services and ports
they use from the container; they never see either (``bots`` imports only ``core``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from app.bootstrap import Container, build
from app.settings import ConfigError, Settings
from app.settings.sections import VkMode
from app.wiring_bot_modes import check_bot_modes

if TYPE_CHECKING:
    from app.wiring_bot_modes import Extension
    from bots.telegram.app import TelegramFrontEnd
    from bots.telegram.options import TelegramOptions, TelegramWebhook
    from bots.vk.app import VkFrontEnd
    from bots.vk.options import VkOptions
    from core.ports import Telemetry
    from web.metrics import Metrics

log = logging.getLogger("taxireg.run")


class Part(Protocol):
    name: str

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


def telegram_options(
    settings: Settings, webhook: TelegramWebhook | None = None
) -> TelegramOptions:
    """``webhook``: webhook mode's URLs and secret (``app.wiring_bot_modes``); None polls."""
    from bots.telegram.options import TelegramOptions, TelegramPark
    from bots.telegram.polling import PollingOptions

    return TelegramOptions(
        parks=tuple(
            TelegramPark(p.slug, p.telegram_token.get_secret_value(), p.telegram_username)
            for p in settings.parks
            if p.telegram_token is not None
        ),
        api_server=settings.telegram.api_server,
        polling=PollingOptions(polling_timeout=settings.telegram.polling_timeout),
        webhook=webhook,
    )


def vk_options(settings: Settings) -> VkOptions:
    from bots.vk.options import VkOptions, VkPark

    return VkOptions(
        parks=tuple(
            VkPark(p.slug, p.vk_group_id, p.vk_token.get_secret_value())
            for p in settings.parks
            if p.vk_token is not None and p.vk_group_id
        ),
        api_url=settings.vk.api_url,
        api_version=settings.vk.api_version,
        callback=settings.vk.mode is VkMode.CALLBACK,
    )


def telegram_front_end(
    container: Container, options: TelegramOptions | None = None
) -> TelegramFrontEnd:
    from bots.telegram.app import TelegramFrontEnd

    return TelegramFrontEnd(
        options or telegram_options(container.settings),
        registration=container.registration,
        catalog=container.catalog,
        leases=container.leases,
    )


def vk_front_end(container: Container, options: VkOptions | None = None) -> VkFrontEnd:
    from bots.vk.app import VkFrontEnd

    return VkFrontEnd(
        options or vk_options(container.settings),
        registration=container.registration,
        catalog=container.catalog,
        leases=container.leases,
        db=container.db,
    )


def web_part(
    container: Container,
    *,
    metrics: Metrics | None = None,
    extensions: Sequence[Extension] = (),
) -> Part:
    """The landing page, the APIs and the metrics (``[web]``), on this process's loop;
    ``extensions`` mount the bot webhook endpoints."""
    from app.wiring_web import WebPart, app_links, web_app, web_options
    from web.metrics import Metrics

    settings = container.settings
    assert settings.web is not None
    options = web_options(settings.web)
    app = web_app(
        container,
        options,
        apps=app_links(settings.parks),
        metrics=metrics or Metrics(),
        extensions=extensions,
    )
    return WebPart(app, options)


async def configured_parts(container: Container, *, web: bool = True) -> list[Part]:
    """Every part of this configuration, in start order (the web first: in webhook mode
    Telegram and VK POST to it as soon as the bots are set up)."""
    from app.wiring_bot_modes import bot_endpoints, telegram_webhook

    settings = container.settings
    serves_web = web and settings.web is not None
    metrics: Metrics | None = None
    if serves_web:
        from app.wiring_web import install_telemetry
        from web.metrics import Metrics

        # /metrics counts what the bots (through the registration flow), the alert relay
        # and the webhook relay of this process do.
        metrics = Metrics()
        install_telemetry(container, metrics)
    telemetry: Telemetry | None = metrics
    telegram = vk = None
    hook = await telegram_webhook(container) if serves_web else None
    if any(p.telegram_token for p in settings.parks):
        telegram = telegram_front_end(container, telegram_options(settings, hook))
    if any(p.vk_token and p.vk_group_id for p in settings.parks):
        vk = vk_front_end(container)
    parts: list[Part] = []
    if serves_web:
        endpoints = bot_endpoints(settings, telegram=telegram, telegram_hook=hook, vk=vk)
        parts.append(web_part(container, metrics=metrics, extensions=endpoints))
    if any(p.webhook_url for p in settings.parks):
        from app.wiring_webhooks import webhook_part

        parts.append(webhook_part(container, telemetry))
    if telegram is not None:
        parts.append(telegram)
    if vk is not None:
        parts.append(vk)
    if settings.notifications.enabled and telegram is not None:
        from app.wiring_scheduler import build_scheduler
        from bots.telegram.sender import TelegramMessenger

        # Alerts go out through the front end's own bots (filled as each passes its check),
        # so the scheduler starts after it.
        messenger = TelegramMessenger(telegram.bots)
        parts.append(build_scheduler(container, messenger, telemetry=telemetry))
    return parts


def warn_about_settings(settings: Settings) -> None:
    """Say at start-up what would silently break registrations in production."""
    vk_parks = [p.slug for p in settings.parks if p.vk_token and p.vk_group_id]
    if vk_parks and settings.sms.sender == "log":
        log.warning(
            "[sms] sender is 'log': VK drivers of %s get no SMS, their codes go to this log; "
            'set [sms] sender = "http" and [sms] url for production',
            ", ".join(vk_parks),
        )


async def serve(
    container: Container,
    stop: asyncio.Event,
    *,
    web: bool = True,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Start every part, call ``on_started``, wait for ``stop``, stop the parts in reverse
    order."""
    warn_about_settings(container.settings)
    started: list[Part] = []
    try:
        for part in await configured_parts(container, web=web):
            await part.start()
            started.append(part)
            log.info("started %s", part.name)
        if not started:
            log.warning("nothing to run: no park has a telegram_token or vk_token")
        if on_started is not None:
            on_started()
        await stop.wait()
    finally:
        for part in reversed(started):
            try:
                await part.stop()
            except Exception:
                log.exception("error while stopping %s", part.name)
            else:
                log.info("stopped %s", part.name)


async def run(settings: Settings, *, web: bool = True) -> None:
    serves_web = web and settings.web is not None
    bots = any(p.telegram_token or (p.vk_token and p.vk_group_id) for p in settings.parks)
    if not bots and not serves_web:
        # Idling with nothing to serve would look healthy to a supervisor and help nobody.
        raise ConfigError(
            "config error: parks: no park has a telegram_token or a vk_token with "
            "vk_group_id, and there is no [web] section, so there is nothing to run"
        )
    check_bot_modes(settings, web=web)
    container = await build(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await serve(container, stop, web=web, on_started=freeze_startup_objects)
    finally:
        await container.aclose()


def freeze_startup_objects() -> None:
    """Keep what start-up made out of the garbage collector's full collections.

    Modules, classes, pydantic and SQLAlchemy schemas, the bots and routers live as long as
    the process, yet each full collection walked all of them: about 250,000 objects, 0.3 s
    of CPU a time on this VM. In bench.telegram_registrations (1,333 updates) the two full
    collections took a fifth of the bot's CPU; frozen (``gc.freeze``, after a collection so
    that no garbage is kept), they walk only what updates made since, and took 9 ms.
    """
    gc.collect()
    gc.freeze()
