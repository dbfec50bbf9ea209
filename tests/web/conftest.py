"""The web front end served for real: uvicorn on a free loopback port, over the same wired
container (real SQLite, or PostgreSQL when configured) that ``taxireg run`` builds.

``web``: the landing pages with three partners' codes; ``api``: the JSON API
(``tests.web.api_support.serve_api``), which a suite that needs more wiring overrides."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.bootstrap import Container
from app.demo import free_port
from app.wiring_web import WebPart, web_app
from core.domain.landing import AppLinks
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.web.api_support import Api, serve_api
from web.metrics import Metrics
from web.options import WebOptions

STORES = AppLinks(
    app_store_url="https://apps.apple.com/app/id1234567890",
    play_store_url="https://play.google.com/store/apps/details?id=ru.mosgortaxi.driver",
)


@dataclass
class Web:
    container: Container
    base: str  # http://127.0.0.1:<port>
    metrics: Metrics
    codes: dict[str, str]  # "mos" / "spb" / "inactive" -> a partner's code

    def page(self, code: str, src: str | None = None) -> str:
        return f"{self.base}/ref?code={code}" + (f"&src={src}" if src else "")


@pytest.fixture
async def web(container: Container) -> AsyncIterator[Web]:
    admin = container.admin
    codes = {
        "mos": (await admin.add_partner("mos", "+7 916 111-22-33", "Анна")).code,
        "spb": (await admin.add_partner("spb", "+7 921 444-55-66", "Борис")).code,
        "inactive": (await admin.add_partner("mos", "+7 916 777-88-99", None)).code,
    }
    assert await admin.set_code_active(codes["inactive"], False)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    metrics = Metrics()
    options = WebOptions(host="127.0.0.1", port=port, public_url=base, max_body_bytes=1024)
    # Served the way `taxireg run` serves it: as one of its parts.
    part = WebPart(web_app(container, options, apps={"mos": STORES}, metrics=metrics), options)
    await asyncio.wait_for(part.start(), 10)
    assert part.port == port
    try:
        yield Web(container, base, metrics, codes)
    finally:
        await asyncio.wait_for(part.stop(), 15)


@pytest.fixture
async def api(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms
) -> AsyncIterator[Api]:
    async with serve_api(database_url, tmp_path, clock, sms) as served:
        yield served
