"""Prometheus metrics of the whole process, served at ``/metrics``.

One ``Metrics`` object owns its own registry (tests build as many as they like). ``app``
creates it and hands it to the web app and, as core's ``Telemetry`` port, to the services
that count things (the registration flow the bots call, the alert relay, the webhook relay):
they call the methods below, whose label values are enums and park slugs, so the number of
series stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.domain.model import Channel
from core.domain.telemetry import DeliveryOutcome, UpdateOutcome

# Seconds; a landing page answers in milliseconds, a slow database shows in the upper ones.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.http_latency = Histogram(
            "taxireg_http_request_duration_seconds",
            "HTTP requests by method, route template and status, with their latency",
            ("method", "route", "status"),
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.updates = Counter(
            "taxireg_updates_handled",
            "Bot updates handled, by park, channel and outcome",
            ("park", "channel", "outcome"),
            registry=r,
        )
        self.registrations = Counter(
            "taxireg_registrations",
            "Drivers registered, by park and channel",
            ("park", "channel"),
            registry=r,
        )
        self.alerts = Counter(
            "taxireg_alerts",
            "Partner alerts by park and outcome (sent, retried, failed)",
            ("park", "outcome"),
            registry=r,
        )
        self.webhooks = Counter(
            "taxireg_webhooks",
            "Outgoing webhooks by park and outcome (sent, retried, failed)",
            ("park", "outcome"),
            registry=r,
        )
        self.outbox_backlog = Gauge(
            "taxireg_outbox_backlog", "Outbox messages waiting to be sent", registry=r
        )

    # core.ports.Telemetry: the bots (through the registration flow), the alert relay and
    # the webhook relay call these.

    def update_handled(self, park: str, channel: Channel, outcome: UpdateOutcome) -> None:
        self.updates.labels(park, channel.value, outcome.value).inc()

    def registered(self, park: str, channel: Channel) -> None:
        self.registrations.labels(park, channel.value).inc()

    def alert(self, park: str, outcome: DeliveryOutcome) -> None:
        self.alerts.labels(park, outcome.value).inc()

    def webhook(self, park: str, outcome: DeliveryOutcome) -> None:
        self.webhooks.labels(park, outcome.value).inc()

    def set_outbox_backlog(self, count: int) -> None:
        self.outbox_backlog.set(count)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class LatencyMiddleware:
    """Times every HTTP request into ``Metrics.http_latency``.

    The route label is the route's template (``/ref/{code}/qr.svg``), never the raw path,
    so a scan of random URLs adds one series (``unmatched``), not one per URL.
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = self.clock()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            self.metrics.http_latency.labels(scope["method"], template, str(status)).observe(
                self.clock() - started
            )
