"""The landing service on the real database: hostile sources, the park of an unknown code,
and the server's refusal of an address it cannot bind."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from app.bootstrap import Container
from app.wiring_web import landing_service
from core.services.landing import (
    MAX_SOURCES_PER_DAY,
    OTHER_SOURCES,
    LandingMiss,
    LandingPage,
)
from tests.web.conftest import Web
from web.server import serve


async def test_random_sources_cannot_grow_the_table_without_bound(container: Container) -> None:
    code = (await container.admin.add_partner("mos", "+7 916 000-11-22", None)).code
    service = landing_service(container, "https://reg.example")
    for number in range(MAX_SOURCES_PER_DAY + 10):
        assert isinstance(await service.visit(code, f"tag{number}"), LandingPage)
    # A known source keeps counting under its own name after the cap.
    assert isinstance(await service.visit(code, "tag0"), LandingPage)
    assert isinstance(await service.visit(code), LandingPage)
    counts = {c.source: c.count for c in await container.db.read(lambda u: u.visits.counts())}
    assert len(counts) == MAX_SOURCES_PER_DAY + 2  # the first 50, "_other" and no source
    assert counts[OTHER_SOURCES] == 10
    assert counts["tag0"] == 2
    assert counts[""] == 1


async def test_unknown_code_offers_the_bots_of_the_park_whose_site_it_is(
    web: Web,
) -> None:
    async with httpx.AsyncClient(base_url=web.base) as client:
        on_mos_site = await client.get(
            "/ref", params={"code": "zzzz9999"}, headers={"Host": "mos-gortaxi.ru"}
        )
        on_our_host = await client.get("/ref", params={"code": "not a code at all"})
        no_code = await client.get("/ref")
    assert on_mos_site.status_code == on_our_host.status_code == no_code.status_code == 404
    assert 'id="telegram-mos"' in on_mos_site.text
    assert 'id="telegram-spb"' not in on_mos_site.text
    for page in (on_our_host, no_code):
        assert 'id="telegram-mos"' in page.text
        assert 'id="telegram-spb"' in page.text


async def test_page_and_miss_without_counting(container: Container) -> None:
    code = (await container.admin.add_partner("spb", "+7 921 000-11-22", None)).code
    service = landing_service(container, None)
    found = await service.page(code, "qr")
    assert isinstance(found, LandingPage)
    assert found.links.page == f"https://spb-taxi.ru/ref?code={code}&src=qr"
    assert isinstance(await service.page("zzzz9999"), LandingMiss)
    assert await container.db.read(lambda u: u.visits.counts()) == []


async def test_serve_reports_an_address_in_use() -> None:
    from fastapi import FastAPI

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match="cannot listen"):
            await asyncio.wait_for(serve(FastAPI(), "127.0.0.1", port, asyncio.Event()), 10)
