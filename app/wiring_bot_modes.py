"""Bot webhook modes in ``taxireg run``: Telegram's webhook and VK's Callback API.

With ``[telegram] mode = "webhook"`` each park's bot gets setWebhook(url=<[web] public_url>
/webhooks/telegram/<park>, secret_token=…) at start and is not polled; with ``[vk] mode =
"callback"`` VK POSTs to /webhooks/vk/<park> and nothing is long-polled. Both endpoints are
``web.api_webhooks_in`` routers, mounted through ``create_app``'s extensions with the front
ends' entry points as handlers, so ``web`` never imports a bot framework.

The Telegram secret token is ``[telegram] webhook_secret`` (or ``_file``); unset, one is
generated once and kept in the database (``secrets`` table), so every process and every
restart uses the same one and Telegram's deliveries in flight keep being accepted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.settings import ConfigError, Settings
from app.settings.sections import TelegramMode, VkMode

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.bootstrap import Container
    from bots.telegram.app import TelegramFrontEnd
    from bots.telegram.options import TelegramWebhook
    from bots.vk.app import VkFrontEnd
    from web.api_webhooks_in import VkCallback

Extension = Callable[["FastAPI"], None]

TELEGRAM_SECRET_NAME = "telegram_webhook_secret"  # its row in the secrets table


def telegram_parks(settings: Settings) -> list[str]:
    return [p.slug for p in settings.parks if p.telegram_token is not None]


def vk_parks(settings: Settings) -> list[str]:
    return [p.slug for p in settings.parks if p.vk_token is not None and p.vk_group_id]


def check_bot_modes(settings: Settings, *, web: bool = True) -> None:
    """Refuse, before anything starts, a webhook mode that could not receive anything."""
    serves_web = web and settings.web is not None
    where = "[web] is disabled by --no-web" if settings.web is not None else "there is no [web]"
    webhook = settings.telegram.mode is TelegramMode.WEBHOOK
    if webhook and telegram_parks(settings) and not serves_web:
        raise ConfigError(
            'config error: telegram.mode: "webhook" needs the [web] section with '
            f"public_url (Telegram POSTs updates there), but {where}"
        )
    if settings.vk.mode is VkMode.CALLBACK and vk_parks(settings):
        if not serves_web:
            raise ConfigError(
                'config error: vk.mode: "callback" needs the [web] section with public_url '
                f"(VK POSTs events there), but {where}"
            )
        if settings.vk.callback_secret is None:
            raise ConfigError(
                'config error: vk.callback_secret: required with vk.mode = "callback" (the '
                "secret key set in the communities' Callback API settings)"
            )
        missing = [slug for slug in vk_parks(settings) if not settings.vk.confirmation(slug)]
        if missing:
            raise ConfigError(
                'config error: vk.callback_confirmation: required with vk.mode = "callback"; '
                "no confirmation string for park(s) " + ", ".join(missing)
            )


async def telegram_webhook(container: Container) -> TelegramWebhook | None:
    """Webhook mode's URLs and secret token, or None in polling mode."""
    settings = container.settings
    if settings.telegram.mode is not TelegramMode.WEBHOOK or settings.web is None:
        return None
    from bots.telegram.options import TelegramWebhook
    from web.api_webhooks_in import TELEGRAM_PATH

    configured = settings.telegram.webhook_secret
    if configured is not None:
        secret = configured.get_secret_value()
    else:
        candidate = secrets.token_urlsafe(32)  # A-Z a-z 0-9 _ -: Telegram's alphabet
        secret = await container.db.run(
            lambda uow: uow.secrets.get_or_create(TELEGRAM_SECRET_NAME, candidate)
        )
    base = settings.web.public_url
    urls = {slug: base + TELEGRAM_PATH.format(park=slug) for slug in telegram_parks(settings)}
    return TelegramWebhook(urls=urls, secret=secret)


def vk_callbacks(settings: Settings) -> dict[str, VkCallback]:
    from web.api_webhooks_in import VkCallback

    secret = settings.vk.callback_secret
    if settings.vk.mode is not VkMode.CALLBACK or secret is None:
        return {}
    return {
        p.slug: VkCallback(p.vk_group_id, confirmation, secret.get_secret_value())
        for p in settings.parks
        if p.vk_token is not None
        and p.vk_group_id
        and (confirmation := settings.vk.confirmation(p.slug))
    }


def bot_endpoints(
    settings: Settings,
    *,
    telegram: TelegramFrontEnd | None,
    telegram_hook: TelegramWebhook | None,
    vk: VkFrontEnd | None,
) -> list[Extension]:
    """The web app's extensions that mount the webhook endpoints of the modes in use."""
    from web.api_webhooks_in import telegram_webhook_router, vk_callback_router

    extensions: list[Extension] = []
    if telegram is not None and telegram_hook is not None:
        front, hook = telegram, telegram_hook
        secrets_by_park = dict.fromkeys(hook.urls, hook.secret)

        def install_telegram(app: FastAPI) -> None:
            app.include_router(telegram_webhook_router(secrets_by_park, front.feed_webhook))

        extensions.append(install_telegram)
    callbacks = vk_callbacks(settings)
    if vk is not None and callbacks:
        vk_front = vk

        def install_vk(app: FastAPI) -> None:
            app.include_router(vk_callback_router(callbacks, vk_front.handle_callback))

        extensions.append(install_vk)
    return extensions
