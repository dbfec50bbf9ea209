"""Wiring the signed outgoing webhooks: endpoints from ``[[parks]] webhook_url`` and
``webhook_secret``, the registration hook that writes ``driver.registered`` in the same
transaction as the driver, and the relay over the httpx poster.

``install_webhooks(container)`` is called once by the composition root (``taxireg run`` and
the CLI); the scheduler then runs ``relay.run`` every few seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.ports import Telemetry
from core.services.webhooks import (
    Endpoint,
    WebhookPoster,
    WebhookRelay,
    registered_hook,
)

if TYPE_CHECKING:
    from app.bootstrap import Container
    from scheduler.webhooks import WebhookScheduler

RELAY = "webhook_relay"  # the container.extras key


def webhook_endpoints(container: Container) -> dict[str, Endpoint]:
    return {
        p.slug: Endpoint(p.webhook_url, p.webhook_secret.get_secret_value())
        for p in container.settings.parks
        if p.webhook_url and p.webhook_secret is not None
    }


def install_webhooks(container: Container, poster: WebhookPoster | None = None) -> WebhookRelay:
    """Idempotent: the hook is added once, the relay kept in ``container.extras``."""
    existing = container.extras.get(RELAY)
    if isinstance(existing, WebhookRelay):
        return existing
    endpoints = webhook_endpoints(container)
    if poster is None:
        from app.webhook_http import HttpWebhookPoster

        poster = HttpWebhookPoster()
    if endpoints:
        container.registration.on_registered.append(registered_hook(endpoints))
    relay = WebhookRelay(container.db, container.clock, poster, endpoints)
    container.extras[RELAY] = relay
    return relay


def webhook_part(container: Container, telemetry: Telemetry | None = None) -> WebhookScheduler:
    """``taxireg run``'s part that POSTs due webhooks every few seconds."""
    from datetime import datetime

    from scheduler.webhooks import WebhookScheduler

    relay = install_webhooks(container)
    if telemetry is not None:
        relay.telemetry = telemetry
    interval = container.settings.notifications.deliver_interval_seconds
    return WebhookScheduler(
        relay.run, container.leases, interval, lambda: datetime.now().astimezone()
    )
