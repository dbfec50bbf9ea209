"""The webhook relay: delivers the webhook outbox to each park's ``webhook_url``, signed.

At least once: a row is marked sent only after the receiver answered 2xx, in a transaction
after the POST; a crash in between sends it again, with the same ``event_id`` and bytes, so
the receiver deduplicates. Failures back off (``core.domain.webhooks.backoff``) and after
``MAX_ATTEMPTS`` the row is parked as failed, visible and retryable from the CLI.

The HTTP client is a port (``WebhookPoster``) implemented outside core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from core.domain.model import Driver
from core.domain.telemetry import DeliveryOutcome
from core.domain.webhooks import (
    EVENT_HEADER,
    MAX_ATTEMPTS,
    SIGNATURE_HEADER,
    WebhookRow,
    WebhookStatus,
    backoff,
    driver_registered,
    signature,
)
from core.ports import Clock, Database, NoTelemetry, Telemetry, UnitOfWork

log = logging.getLogger("taxireg.webhooks")
BATCH = 50


class WebhookError(Exception):
    """The receiver could not be reached (connection refused, timeout, ...)."""


class WebhookPoster(Protocol):
    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        """POST and return the HTTP status, or raise ``WebhookError``."""
        ...


@dataclass(frozen=True)
class Endpoint:
    url: str
    secret: str = field(repr=False)


@dataclass
class WebhookReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


def registered_hook(parks: Mapping[str, Endpoint]) -> Callable[[UnitOfWork, Driver], None]:
    """What the registration flow calls in the transaction that creates a driver: the
    ``driver.registered`` event goes into the webhook outbox of parks that have a webhook."""

    def hook(uow: UnitOfWork, driver: Driver) -> None:
        if driver.park in parks and driver.created_at is not None:
            uow.webhooks.add(driver_registered(driver, driver.created_at), driver.created_at)

    return hook


class WebhookRelay:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        poster: WebhookPoster,
        endpoints: Mapping[str, Endpoint],
        telemetry: Telemetry | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._poster = poster
        self._endpoints = dict(endpoints)
        self.telemetry: Telemetry = telemetry or NoTelemetry()

    async def run(self) -> WebhookReport:
        """One pass: every due row, each POSTed once; returns what happened."""
        report = WebhookReport()
        now = self._clock.now()
        rows = await self._db.run(lambda uow: uow.webhooks.claim(now, BATCH))
        for row in rows:
            await self._deliver(row, report)
        return report

    async def _deliver(self, row: WebhookRow, report: WebhookReport) -> None:
        endpoint = self._endpoints.get(row.park)
        error: str | None
        if endpoint is None:
            error = "the park has no webhook_url"
        else:
            body = row.body.encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: signature(endpoint.secret, body),
                EVENT_HEADER: row.kind,
            }
            try:
                status = await self._poster.post(endpoint.url, body, headers)
                error = None if 200 <= status < 300 else f"HTTP {status}"
            except WebhookError as exc:
                error = str(exc)[:200] or type(exc).__name__
        now = self._clock.now()
        if error is None:
            await self._db.run(lambda uow: uow.webhooks.sent(row.id, now))
            report.sent += 1
            self.telemetry.webhook(row.park, DeliveryOutcome.SENT)
            return
        give_up = row.attempts + 1 >= MAX_ATTEMPTS
        next_at = now + backoff(row.attempts + 1)
        await self._db.run(lambda uow: uow.webhooks.failed(row.id, error, next_at, give_up))
        if give_up:
            report.failed += 1
        else:
            report.retried += 1
        outcome = DeliveryOutcome.FAILED if give_up else DeliveryOutcome.RETRIED
        self.telemetry.webhook(row.park, outcome)
        log.warning(
            "webhook not delivered",
            extra={"park": row.park, "event": row.event_id, "error": error, "gave_up": give_up},
        )

    async def list(self, status: WebhookStatus | None = None) -> list[WebhookRow]:
        return await self._db.read(lambda uow: uow.webhooks.list(status))

    async def retry(self, row_id: int) -> bool:
        now = self._clock.now()
        return await self._db.run(lambda uow: uow.webhooks.requeue(row_id, now))
