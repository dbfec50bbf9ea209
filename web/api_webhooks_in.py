"""Bot webhook modes: Telegram's webhook and VK's Callback API, mounted in the web app.

``web`` must not import ``bots``: the composition root passes a handler per platform, a
callable that takes the park and the update as JSON (Telegram: the front end's
``feed_webhook``; VK: the front end's ``handle_callback``, which calls the one
``handle_update``). Secrets are compared with ``hmac.compare_digest``; a request without
the right one gets 403 and reaches no handler.
"""

# No ``from __future__ import annotations``: FastAPI resolves the routes' annotations.

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from web.api_errors import ApiProblem

log = logging.getLogger("taxireg.web")

TELEGRAM_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_PATH = "/webhooks/telegram/{park}"
VK_PATH = "/webhooks/vk/{park}"

UpdateHandler = Callable[[str, dict[str, Any]], Awaitable[bool | None]]
"""Handles one update of a park; returns once it is handled. ``False``: not handled here
now (the part is stopping, or the park's bot is off): answered 503, so the platform
delivers it again later, to this or another process."""


def _not_serving() -> ApiProblem:
    return ApiProblem(503, "not_ready", "web-error-not-ready", headers={"Retry-After": "5"})


@dataclass(frozen=True)
class VkCallback:
    """One park's Callback API server settings in the VK community."""

    group_id: int
    confirmation: str = field(repr=False)
    secret: str = field(repr=False)


def _same(given: str | None, expected: str) -> bool:
    return hmac.compare_digest(
        (given or "").encode("utf-8", "surrogatepass"), expected.encode("utf-8")
    )


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise ApiProblem(400, "invalid_json") from None
    if not isinstance(data, dict):
        raise ApiProblem(400, "invalid_json")
    return data


def telegram_webhook_router(secrets: Mapping[str, str], handler: UpdateHandler) -> APIRouter:
    """``secrets``: each park's ``secret_token`` given to setWebhook."""
    router = APIRouter(tags=["bot webhooks"], include_in_schema=False)

    @router.post(TELEGRAM_PATH)
    async def telegram(park: str, request: Request) -> Response:
        expected = secrets.get(park)
        given = request.headers.get(TELEGRAM_SECRET_HEADER)
        if expected is None or not _same(given, expected):
            log.warning("telegram webhook: wrong or missing secret", extra={"park": park[:32]})
            raise ApiProblem(403, "forbidden")
        update = await _json_object(request)
        if await handler(park, update) is False:
            raise _not_serving()
        return JSONResponse({})

    return router


def vk_callback_router(parks: Mapping[str, VkCallback], handler: UpdateHandler) -> APIRouter:
    router = APIRouter(tags=["bot webhooks"], include_in_schema=False)

    @router.post(VK_PATH)
    async def vk(park: str, request: Request) -> Response:
        config = parks.get(park)
        event = await _json_object(request) if config is not None else {}
        if config is None or not _same(_text(event.get("secret")), config.secret):
            log.warning("vk callback: wrong or missing secret", extra={"park": park[:32]})
            raise ApiProblem(403, "forbidden")
        if event.get("group_id") != config.group_id:
            raise ApiProblem(403, "forbidden")
        if event.get("type") == "confirmation":
            return PlainTextResponse(config.confirmation)
        # The handler (and whatever it logs) never sees the secret.
        update = {key: value for key, value in event.items() if key != "secret"}
        if await handler(park, update) is False:
            raise _not_serving()
        return PlainTextResponse("ok")  # VK repeats an event until it reads "ok"

    return router


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
