"""The web app over real HTTP (httpx against uvicorn on 127.0.0.1): the error shape, QR
files, health, readiness and metrics, and visits counted in the database."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime

import httpx
import pytest
import zxingcpp
from fastapi import FastAPI
from PIL import Image
from pydantic import BaseModel, ConfigDict

from core.domain.landing import VisitCount
from core.domain.model import Channel
from core.domain.telemetry import DeliveryOutcome, UpdateOutcome
from tests.web.conftest import Web
from web.app import create_app
from web.errors import ERROR_RESPONSES
from web.options import WebOptions

LATENCY_COUNT = "taxireg_http_request_duration_seconds_count"


@pytest.fixture
async def http(web: Web) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=web.base, timeout=10) as client:
        yield client


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["code"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


async def test_visits_are_counted_per_code_source_and_park_day(
    web: Web, http: httpx.AsyncClient
) -> None:
    mos, spb = web.codes["mos"], web.codes["spb"]
    clock = web.container.clock
    clock.current = datetime(2026, 11, 30, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    for params in ({"code": mos}, {"code": mos}, {"code": mos, "src": "flyer"}, {"code": spb}):
        assert (await http.get("/ref", params=params)).status_code == 200
    clock.current = datetime(2026, 11, 30, 21, 30, tzinfo=UTC)  # 00:30 on Dec 1 in Moscow
    # Typed in capitals with a Cyrillic look-alike, source with junk: still the same code.
    loud = mos.upper().replace("A", "А")
    assert (await http.get("/ref", params={"code": loud, "src": "fl<y>er"})).status_code == 200
    # Not counted: unknown, deactivated, QR files.
    assert (await http.get("/ref", params={"code": "zzzz9999"})).status_code == 404
    assert (await http.get("/ref", params={"code": web.codes["inactive"]})).status_code == 404
    assert (await http.get(f"/ref/{mos}/qr.svg")).status_code == 200

    counts = await web.container.db.read(lambda uow: uow.visits.counts())
    nov30, dec1 = datetime(2026, 11, 30).date(), datetime(2026, 12, 1).date()
    assert sorted(counts, key=lambda c: (c.day, c.code, c.source)) == sorted(
        [
            VisitCount("mos", mos, "", nov30, 2),
            VisitCount("mos", mos, "flyer", nov30, 1),
            VisitCount("spb", spb, "", nov30, 1),
            VisitCount("mos", mos, "flyer", dec1, 1),
        ],
        key=lambda c: (c.day, c.code, c.source),
    )
    only_dec = await web.container.db.read(
        lambda uow: uow.visits.counts(park="mos", since=dec1, until=dec1)
    )
    assert [(c.source, c.count) for c in only_dec] == [("flyer", 1)]


async def test_concurrent_visits_lose_no_count(web: Web, http: httpx.AsyncClient) -> None:
    code = web.codes["spb"]
    answers = await asyncio.gather(
        *(http.get("/ref", params={"code": code, "src": "rush"}) for _ in range(25))
    )
    assert {a.status_code for a in answers} == {200}
    counts = await web.container.db.read(lambda uow: uow.visits.counts(code=code))
    assert [(c.source, c.count) for c in counts] == [("rush", 25)]


async def test_page_headers_allow_nothing_external(web: Web, http: httpx.AsyncClient) -> None:
    response = await http.get("/ref", params={"code": web.codes["mos"]})
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert "http://" not in html.replace(web.base, "")  # nothing loaded from elsewhere
    assert "<script src" not in html
    assert "<link" not in html


async def test_qr_files_decode_to_the_page_url(web: Web, http: httpx.AsyncClient) -> None:
    code = web.codes["mos"]
    png = await http.get(f"/ref/{code}/qr.png", params={"src": "print"})
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(png.content)).convert("L")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [web.page(code, "print")]

    svg = await http.get(f"/ref/{code}/qr.svg")
    assert svg.status_code == 200
    assert svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml")
    assert "<svg" in svg.text

    assert_error(await http.get("/ref/zzzz9999/qr.png"), 404, "code_not_found")
    assert_error(await http.get(f"/ref/{web.codes['inactive']}/qr.svg"), 404, "code_inactive")


async def test_errors_have_a_code_and_a_message(web: Web, http: httpx.AsyncClient) -> None:
    body = assert_error(await http.get("/no/such/page"), 404, "not_found")
    assert body["message"] == "Такого адреса нет."
    english = await http.get("/no/such/page", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert assert_error(english, 404, "not_found")["message"] == "There is no such address."
    response = await http.post("/healthz")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


async def test_openapi_document(web: Web, http: httpx.AsyncClient) -> None:
    response = await http.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert {"/ref", "/ref/{code}/qr.svg", "/ref/{code}/qr.png", "/healthz", "/readyz"} <= set(
        doc["paths"]
    )
    assert "ErrorBody" in doc["components"]["schemas"]


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str
    name: str | None = None


def app_with_echo(web: Web) -> FastAPI:
    """The real app plus one JSON route, as the coming API routers will add theirs."""
    from app.wiring_web import landing_service, migrations_check

    c = web.container
    app = create_app(
        WebOptions(public_url=web.base, max_body_bytes=1024),
        db=c.db,
        landing=landing_service(c, web.base),
        catalog=c.catalog,
        migrations_at_head=migrations_check(c),
    )

    @app.post("/api/v1/echo", responses=ERROR_RESPONSES)
    async def echo(body: Echo) -> Echo:
        return body

    return app


async def test_bodies_are_checked_and_capped(web: Web) -> None:
    transport = httpx.ASGITransport(app=app_with_echo(web))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.post("/api/v1/echo", json={"phone": "+79161112233"})
        assert ok.status_code == 200
        assert ok.json() == {"phone": "+79161112233", "name": None}

        unknown = await client.post("/api/v1/echo", json={"phone": "+7916", "admin": True})
        body = assert_error(unknown, 422, "unknown_field")
        assert body["fields"] == [
            {
                "field": "body.admin",
                "problem": "Extra inputs are not permitted",
                "type": "extra_forbidden",
            }
        ]
        # The values sent never come back (a phone, a token ...).
        assert "+7916" not in unknown.text

        missing = await client.post("/api/v1/echo", json={"name": "x"})
        assert [f["field"] for f in assert_error(missing, 422, "invalid_request")["fields"]] == [
            "body.phone"
        ]
        broken = await client.post(
            "/api/v1/echo", content=b'{"phone": ', headers={"content-type": "application/json"}
        )
        assert_error(broken, 422, "invalid_json")

        big = {"phone": "1", "name": "x" * 2000}
        assert_error(await client.post("/api/v1/echo", json=big), 413, "payload_too_large")

        async def chunks():  # no Content-Length: counted as it streams
            for _ in range(10):
                yield b" " * 200

        streamed = await client.post(
            "/api/v1/echo", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_error(streamed, 413, "payload_too_large")


async def test_health_readiness_and_metrics(web: Web, http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "database": "ok", "migrations": "ok"}

    await http.get("/ref", params={"code": web.codes["mos"]})
    await http.get("/ref/zzzz/qr.svg")
    await http.get("/random/path/1")
    await http.get("/random/path/2")
    web.metrics.update_handled("mos", Channel.TELEGRAM, UpdateOutcome.ANSWERED)
    web.metrics.registered("mos", Channel.VK)
    web.metrics.alert("mos", DeliveryOutcome.RETRIED)
    web.metrics.webhook("spb", DeliveryOutcome.FAILED)
    text = (await http.get("/metrics")).text
    assert (
        'taxireg_http_request_duration_seconds_count{method="GET",route="/ref",status="200"} 1.0'
        in text
    )
    assert 'route="/ref/{code}/qr.svg",status="404"' in text
    # Random paths are one series, not one per path.
    assert LATENCY_COUNT + '{method="GET",route="unmatched",status="404"} 2.0' in text
    assert "/random/path" not in text
    handled = 'taxireg_updates_handled_total{channel="telegram",outcome="answered",park="mos"}'
    assert handled + " 1.0" in text
    assert 'taxireg_registrations_total{channel="vk",park="mos"} 1.0' in text
    assert 'taxireg_alerts_total{outcome="retried",park="mos"} 1.0' in text
    assert 'taxireg_webhooks_total{outcome="failed",park="spb"} 1.0' in text
    assert "taxireg_outbox_backlog 0.0" in text


async def test_readiness_fails_without_a_database_and_behind_migrations(
    web: Web, http: httpx.AsyncClient
) -> None:
    from app.wiring_web import landing_service, migrations_check
    from storage import migrate
    from storage.database import SqlDatabase

    # A real database nobody listens for: connection refused on a loopback port.
    down = SqlDatabase(
        "postgresql+asyncpg://taxireg:secret@127.0.0.1:9/taxireg", web.container.clock
    )
    app = create_app(
        WebOptions(),
        db=down,
        landing=landing_service(web.container, web.base),
        catalog=web.container.catalog,
        migrations_at_head=migrations_check(web.container),
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
            body = assert_error(response, 503, "not_ready")
            assert body["database"] == "unreachable"
            assert "secret" not in response.text
            # Metrics still answer while the database is down.
            assert (await client.get("/metrics")).status_code == 200
    finally:
        await down.dispose()

    # The served app's database one migration behind the code: not ready.
    await migrate.downgrade(web.container.db, "-1")
    behind = await http.get("/readyz")
    assert assert_error(behind, 503, "not_ready")["migrations"] == "behind"
    await migrate.upgrade(web.container.db)
    assert (await http.get("/readyz")).status_code == 200
