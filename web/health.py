"""``/healthz``, ``/readyz`` and ``/metrics``: what an orchestrator and Prometheus ask."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.domain.delivery import Status
from core.ports import Database
from web.errors import ErrorCode, ErrorRenderer
from web.metrics import Metrics

log = logging.getLogger("taxireg.web")

MigrationsAtHead = Callable[[], Awaitable[bool]]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    database: str
    migrations: str


def health_router(
    db: Database, migrations_at_head: MigrationsAtHead, metrics: Metrics, errors: ErrorRenderer
) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="The process is up")
    async def healthz() -> Health:
        return Health(status="ok")

    @router.get(
        "/readyz",
        summary="The database is reachable and migrations are at head",
        responses={503: {"description": "Not ready; the body says which check failed"}},
    )
    async def readyz(request: Request) -> JSONResponse:
        database = migrations = "unknown"
        try:
            await db.ping()
            database = "ok"
            migrations = "ok" if await migrations_at_head() else "behind"
        except Exception as exc:  # any failure means "not ready", never a 500
            # The type only: a driver's message can carry the database URL.
            log.warning("web: readiness check failed: %s", type(exc).__name__)
            if database != "ok":
                database = "unreachable"
        checks = Readiness(
            status="ready" if database == migrations == "ok" else "not_ready",
            database=database,
            migrations=migrations,
        )
        if checks.status == "ready":
            return JSONResponse(checks.model_dump())
        # The error shape every client knows, plus which check failed.
        body = {
            "code": ErrorCode.NOT_READY.value,
            "message": errors.message(request, ErrorCode.NOT_READY),
            "database": database,
            "migrations": migrations,
        }
        return JSONResponse(body, status_code=503)

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}},
    )
    async def prometheus() -> Response:
        try:
            counts = await db.read(lambda uow: uow.outbox.counts())
            metrics.set_outbox_backlog(counts.get(Status.PENDING, 0))
        except Exception as exc:  # metrics still answer while the database is down
            log.warning("web: outbox backlog not read: %s", type(exc).__name__)
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    return router
