"""The API tests' server: the wired container with app keys (and webhooks) configured,
served by uvicorn on a free loopback port, with an httpx client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.bootstrap import Container, build
from app.settings import load_settings
from app.wiring_web import web_app
from tests.conftest import PARKS, reset_postgres
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.web.conftest import free_port
from web.options import WebOptions
from web.server import serve

APP_KEYS = {"mos": "mos-app-key-0123456789", "spb": "spb-app-key-9876543210"}
ADMIN_TOKEN = "admin-token-0123456789abcdef"


@dataclass
class Api:
    container: Container
    base: str
    http: httpx.AsyncClient
    clock: FakeClock
    sms: RecordingSms

    def key(self, park: str = "mos") -> dict[str, str]:
        return {"X-Api-Key": APP_KEYS[park]}


def parks_with(**extra_by_park: dict[str, object]) -> list[dict[str, object]]:
    parks = []
    for park in PARKS:
        slug = str(park["slug"])
        parks.append({**park, "app_api_key": APP_KEYS[slug], **extra_by_park.get(slug, {})})
    return parks


@asynccontextmanager
async def serve_api(
    database_url: str,
    tmp_path: Path,
    clock: FakeClock,
    sms: RecordingSms,
    *,
    parks: list[dict[str, object]] | None = None,
    prepare: Callable[[Container], None] | None = None,
    **settings: object,
) -> AsyncIterator[Api]:
    if database_url.startswith("postgresql"):
        await reset_postgres(database_url)
    config = load_settings(
        None,
        data_dir=tmp_path,
        database={"url": database_url},
        parks=parks or parks_with(),
        **settings,
    )
    container = await build(config, clock=clock, sms=sms)
    if prepare is not None:
        prepare(container)  # e.g. give the container a bonus ledger with test rules
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    options = WebOptions(host="127.0.0.1", port=port, public_url=base, admin_token=ADMIN_TOKEN)
    app = web_app(container, options)
    stop, started = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(
        serve(app, options.host, port, stop, on_started=lambda _port: started.set())
    )
    try:
        await asyncio.wait_for(started.wait(), 10)
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            yield Api(container, base, http, clock, sms)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await container.aclose()
