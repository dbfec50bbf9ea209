"""Wiring the JSON APIs (app registration, partner cabinet, admin, bot webhooks) into the
web app: core services from the container, keys from the settings, handed to ``web.api_*``
as plain values. ``web`` never sees the container or the settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from core.services.app_registration import AppRegistrationService
from core.services.landing import LandingService
from core.services.partner_cabinet import PartnerCabinet

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.bootstrap import Container

Extension = Callable[["FastAPI"], None]


def app_keys(container: Container) -> dict[str, str]:
    return {
        p.slug: p.app_api_key.get_secret_value()
        for p in container.settings.parks
        if p.app_api_key is not None
    }


def api_extensions(container: Container, landing: LandingService) -> list[Extension]:
    from web.api_admin import admin_router
    from web.api_app import app_router
    from web.api_errors import install_api_errors
    from web.api_ledger import ORDERS_MAX_BODY, ORDERS_PATH, admin_payouts_router, orders_router
    from web.api_partner import partner_router

    catalog = container.catalog
    app_registration = AppRegistrationService(container.registration, landing)
    keys = app_keys(container)
    cabinet = PartnerCabinet(container.db, container.clock, app_registration, landing)

    def install(app: FastAPI) -> None:
        install_api_errors(app, catalog)
        app.include_router(app_router(app_registration, keys, catalog))
        app.include_router(partner_router(cabinet, catalog, container.ledger))
        token = app.state.options.admin_token  # [web] admin_token; None: every call is 401
        app.include_router(admin_router(container.admin, cabinet, token, container.broadcasts))
        app.include_router(orders_router(container.ledger, keys))
        app.state.body_limits[ORDERS_PATH] = ORDERS_MAX_BODY
        app.include_router(admin_payouts_router(container.ledger, token))

    return [install]
