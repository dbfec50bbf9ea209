"""``create_app``: the FastAPI application of the web front end, from options and core services.

Nothing here reads settings or opens a database: ``app`` passes in what the routes use, so
tests build the same application over a real SQLite database and a fake clock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from core.ports import Database
from core.services.landing import LandingService
from core.texts import Catalog
from web.body_limit import BodyLimitMiddleware
from web.errors import ErrorRenderer, install_error_handlers
from web.health import MigrationsAtHead, health_router
from web.landing import landing_router
from web.metrics import LatencyMiddleware, Metrics
from web.options import WebOptions

OPENAPI_URL = "/api/openapi.json"


def create_app(
    options: WebOptions,
    *,
    db: Database,
    landing: LandingService,
    catalog: Catalog,
    migrations_at_head: MigrationsAtHead,
    metrics: Metrics | None = None,
    extensions: Iterable[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    metrics = metrics or Metrics()
    app = FastAPI(
        title="taxireg",
        summary="Referral landing page, QR codes and the APIs of taxireg",
        version="1",
        openapi_url=OPENAPI_URL,
        docs_url="/api/docs",
        redoc_url=None,
    )
    # The options, services and metrics stay reachable for routers added later (the app,
    # partner and admin APIs) without any global state.
    app.state.options = options
    app.state.metrics = metrics
    app.state.body_limits = {}  # path -> a larger body cap, set by an API that needs one
    errors = ErrorRenderer(catalog)
    install_error_handlers(app, errors, options.max_body_bytes)
    app.include_router(landing_router(landing, catalog))
    app.include_router(health_router(db, migrations_at_head, metrics, errors))
    # The JSON APIs (web.api_*), each installed by a callable the composition root hands in.
    for extend in extensions:
        extend(app)
    # Added innermost first: CORS sees requests before the body limit, and the latency
    # middleware, outermost, times everything including refusals.
    app.add_middleware(
        BodyLimitMiddleware, max_bytes=options.max_body_bytes, path_limits=app.state.body_limits
    )
    if options.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Api-Key"],
        )
    app.add_middleware(LatencyMiddleware, metrics=metrics)
    return app
