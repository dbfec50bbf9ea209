"""Signed outgoing webhooks, end to end: a registration writes ``driver.registered`` in its
own transaction, the relay POSTs it with the real httpx poster to a receiver on 127.0.0.1
(uvicorn), the signature verifies with the park's secret, a receiver that is down gets the
event again after the backoff, and an event answered 200 is never sent again."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.bootstrap import Container, build
from app.settings import load_settings
from app.webhook_http import HttpWebhookPoster
from app.wiring_webhooks import install_webhooks
from core.domain.webhooks import SIGNATURE_HEADER, WebhookStatus, verify
from core.replies import Action
from tests.conftest import PARKS, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person
from tests.web.conftest import free_port
from web.metrics import Metrics
from web.server import serve

SECRET = "whsec-0123456789abcdef"


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.got: list[tuple[bytes, str | None]] = []
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def hook(self, request: Request) -> Response:
        self.got.append((await request.body(), request.headers.get(SIGNATURE_HEADER)))
        return Response(status_code=200)

    async def start(self) -> None:
        app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])
        self._stop, started = asyncio.Event(), asyncio.Event()
        self._task = asyncio.create_task(
            serve(app, "127.0.0.1", self.port, self._stop, on_started=lambda _p: started.set())
        )
        await asyncio.wait_for(started.wait(), 10)

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await asyncio.wait_for(self._task, 15)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    yield found
    await found.stop()


@pytest.fixture
async def app(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms, receiver: Receiver
) -> AsyncIterator[Container]:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    parks = [
        {**PARKS[0], "webhook_url": receiver.url, "webhook_secret": SECRET},
        PARKS[1],
    ]
    settings = load_settings(None, data_dir=tmp_path, database={"url": database_url}, parks=parks)
    container = await build(settings, clock=clock, sms=sms)
    yield container
    await container.aclose()


async def register(app: Container, park: str, phone: str) -> None:
    person = Person(app, park)
    await person.start()
    await person.share_contact(phone)
    await person.press(Action.NO_CODE)


def webhook_count(metrics: Metrics, outcome: str) -> float | None:
    labels = {"park": "mos", "outcome": outcome}
    return metrics.registry.get_sample_value("taxireg_webhooks_total", labels)


async def test_signed_delivery_retries_and_once_only(
    app: Container, receiver: Receiver, clock: FakeClock
) -> None:
    poster = HttpWebhookPoster(timeout=5)
    relay = install_webhooks(app, poster)
    relay.telemetry = metrics = Metrics()  # what taxireg run installs for /metrics
    await register(app, "mos", "+79160000001")
    await register(app, "spb", "+79210000001")  # spb has no webhook: no event
    [row] = await relay.list()
    assert row.status is WebhookStatus.PENDING
    assert row.kind == "driver.registered"

    # The receiver is down: the event stays pending, due after the backoff.
    report = await relay.run()
    assert (report.sent, report.retried) == (0, 1)
    [row] = await relay.list()
    assert row.status is WebhookStatus.PENDING
    assert row.attempts == 1
    assert row.next_attempt_at > clock.now()
    assert (await relay.run()).retried == 0  # not due yet

    await receiver.start()
    clock.advance(minutes=1)
    assert (await relay.run()).sent == 1
    [(body, header)] = receiver.got
    assert verify(SECRET, body, header)
    assert not verify(SECRET + "x", body, header)
    event = json.loads(body)
    assert event["event_id"] == row.event_id
    assert event["type"] == "driver.registered"
    assert event["data"]["phone"] == "+79160000001"
    # Answered 200: never sent again, however often the relay runs.
    clock.advance(hours=5)
    assert (await relay.run()).sent == 0
    assert len(receiver.got) == 1
    [done] = await relay.list(WebhookStatus.SENT)
    assert done.event_id == row.event_id
    # An operator retry of a delivered event is refused; of a failed one it is due now.
    assert not await relay.retry(done.id)
    await poster.aclose()
    assert webhook_count(metrics, "retried") == 1
    assert webhook_count(metrics, "sent") == 1
    assert webhook_count(metrics, "failed") is None


async def test_a_receiver_answering_500_is_retried_then_parked(
    app: Container, receiver: Receiver, clock: FakeClock
) -> None:
    from core.domain.webhooks import MAX_ATTEMPTS

    class Answers500:
        calls = 0

        async def post(self, url: str, body: bytes, headers: object) -> int:
            self.calls += 1
            return 500

    poster = Answers500()
    relay = install_webhooks(app, poster)
    relay.telemetry = metrics = Metrics()
    await register(app, "mos", "+79160000002")
    for _ in range(MAX_ATTEMPTS):
        await relay.run()
        clock.advance(hours=5)
    [row] = await relay.list()
    assert row.status is WebhookStatus.FAILED
    assert row.last_error == "HTTP 500"
    assert poster.calls == MAX_ATTEMPTS
    assert webhook_count(metrics, "retried") == MAX_ATTEMPTS - 1
    assert webhook_count(metrics, "failed") == 1
    assert await relay.retry(row.id)
    [row] = await relay.list(WebhookStatus.PENDING)
    assert row.attempts == 0
