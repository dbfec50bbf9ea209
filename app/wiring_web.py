"""Wiring the web front end: options from the settings, core services from the container.

``web`` never sees the container or the settings; this is the one place that knows both.
FastAPI, uvicorn and segno are imported only when a web app is built, so admin commands
start as fast as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Protocol

from core.domain.landing import AppLinks
from core.ports import Telemetry
from core.services.landing import LandingService

if TYPE_CHECKING:
    from fastapi import FastAPI
    from pydantic import SecretStr

    from app.bootstrap import Container
    from web.metrics import Metrics
    from web.options import WebOptions


class WebSection(Protocol):
    """The ``[web]`` keys this wiring reads (the settings package defines the section)."""

    host: str
    port: int
    public_url: str
    admin_token: SecretStr | None
    cors_origins: list[str]


class ParkApps(Protocol):
    """The ``[[parks]]`` keys of a park's app in the stores."""

    slug: str
    app_store_url: str | None
    play_store_url: str | None


def web_options(section: WebSection) -> WebOptions:
    from web.options import WebOptions

    token = section.admin_token.get_secret_value() if section.admin_token else None
    return WebOptions(
        host=section.host,
        port=section.port,
        public_url=section.public_url,
        admin_token=token,
        cors_origins=tuple(section.cors_origins),
    )


def app_links(parks: Iterable[ParkApps]) -> dict[str, AppLinks]:
    return {
        p.slug: AppLinks(p.app_store_url, p.play_store_url)
        for p in parks
        if p.app_store_url or p.play_store_url
    }


def landing_service(
    container: Container, public_url: str | None, apps: Mapping[str, AppLinks] | None = None
) -> LandingService:
    """The service behind the page, the QR codes and ``taxireg partner links``."""
    return LandingService(
        container.db, container.parks, container.clock, public_url=public_url, apps=apps
    )


def migrations_check(container: Container) -> Callable[[], Awaitable[bool]]:
    """``/readyz``'s migrations check: the database's revision is the newest one shipped."""
    from storage import migrate

    newest = migrate.head()

    async def at_head() -> bool:
        return await migrate.current(container.db) == newest

    return at_head


def web_app(
    container: Container,
    options: WebOptions,
    *,
    apps: Mapping[str, AppLinks] | None = None,
    metrics: Metrics | None = None,
    extensions: Iterable[Callable[[FastAPI], None]] = (),
) -> FastAPI:
    """The FastAPI app ``taxireg run`` and ``taxireg demo`` serve with ``web.server.serve``.

    ``extensions`` mount more routes after the APIs (the bot webhook endpoints).
    """
    from app.wiring_api import api_extensions
    from web.app import create_app

    landing = landing_service(container, options.public_url, apps)
    return create_app(
        options,
        db=container.db,
        landing=landing,
        catalog=container.catalog,
        migrations_at_head=migrations_check(container),
        metrics=metrics,
        extensions=[*api_extensions(container, landing), *extensions],
    )


def install_telemetry(container: Container, telemetry: Telemetry) -> None:
    """Count what the registration flow does (every bot and the app call it) into
    ``telemetry``; the relays get it where ``taxireg run`` builds them."""
    container.registration.telemetry = telemetry


class WebPart:
    """The web front end as one of ``taxireg run``'s parts (``app.runner.Part``).

    ``start`` returns once the server listens (or raises ``OSError`` if it cannot);
    ``stop`` lets in-flight requests finish, then returns.
    """

    name = "web"

    def __init__(self, app: FastAPI, options: WebOptions) -> None:
        self._app = app
        self._options = options
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    async def start(self) -> None:
        from web.server import serve

        self._stop = asyncio.Event()
        started = asyncio.Event()

        def on_started(port: int) -> None:
            self.port = port
            started.set()

        self._task = asyncio.create_task(
            serve(
                self._app,
                self._options.host,
                self._options.port,
                self._stop,
                on_started=on_started,
            )
        )
        waiter = asyncio.create_task(started.wait())
        await asyncio.wait({self._task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if not started.is_set():
            await self._task  # raises why it could not start

    async def stop(self) -> None:
        if self._stop is not None and self._task is not None:
            self._stop.set()
            await self._task
