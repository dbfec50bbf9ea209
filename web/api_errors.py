"""Errors of the JSON APIs (app, partner cabinet, admin): the shape of ``web.errors`` —
a stable ``code`` and a human ``message`` — plus the few fields an outcome carries (the
driver's code on ``already_registered``, the other park's bot on ``code_other_park``).

Messages come from the ``api-*`` texts of the catalog, in the Accept-Language language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.texts import Catalog
from web.language import pick_language

# A row's id in a path (driver, broadcast, payout): a positive 32-bit integer, as the columns
# hold; a larger one is a 422, not a database error.
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class ApiErrorBody(BaseModel):
    """Every API error: ``code`` to branch on, ``message`` to show; some codes add fields."""

    code: str
    message: str
    retry_after: int | None = None
    attempts_left: int | None = None
    driver_code: str | None = None
    links: dict[str, str | None] | None = None
    park: str | None = None
    bot: str | None = None
    bot_link: str | None = None


class ApiProblem(Exception):
    """Raised by an API route: answered as ``status`` with ``code`` and the text ``key``."""

    def __init__(
        self,
        status: int,
        code: str,
        key: str | None = None,
        args: Mapping[str, object] | None = None,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.key = key or "api-" + code.replace("_", "-")
        self.args_ = dict(args or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's ``responses=``: the OpenAPI document shows the real error shape."""
    return {status: {"model": ApiErrorBody} for status in statuses}


def language(request: Request, catalog: Catalog) -> str:
    return pick_language(
        request.headers.get("accept-language"), catalog.languages, catalog.default
    )


def install_api_errors(app: FastAPI, catalog: Catalog) -> None:
    async def problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiProblem)
        message = catalog.text(language(request, catalog), exc.key, exc.args_)
        body = {"code": exc.code, "message": message, **exc.extra}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers or None)

    app.add_exception_handler(ApiProblem, problem)
