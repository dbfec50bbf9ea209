"""One shape for every JSON error: a stable machine-readable ``code`` and a human ``message``.

Clients branch on ``code``; ``message`` is for people, in the language of Accept-Language.
Validation errors also list the fields and what is wrong with them, never the values sent
(a value may be a phone number or a token).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException

from core.texts import Catalog
from web.language import pick_language

log = logging.getLogger("taxireg.web")


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INVALID_JSON = "invalid_json"
    UNKNOWN_FIELD = "unknown_field"
    INVALID_REQUEST = "invalid_request"
    INTERNAL = "internal_error"
    CODE_NOT_FOUND = "code_not_found"
    CODE_INACTIVE = "code_inactive"
    NOT_READY = "not_ready"
    HTTP_ERROR = "http_error"


_MESSAGES = {
    ErrorCode.NOT_FOUND: "web-error-not-found",
    ErrorCode.METHOD_NOT_ALLOWED: "web-error-method",
    ErrorCode.PAYLOAD_TOO_LARGE: "web-error-too-large",
    ErrorCode.INVALID_JSON: "web-error-invalid-json",
    ErrorCode.UNKNOWN_FIELD: "web-error-unknown-field",
    ErrorCode.INVALID_REQUEST: "web-error-invalid",
    ErrorCode.INTERNAL: "web-error-internal",
    ErrorCode.CODE_NOT_FOUND: "web-error-code-not-found",
    ErrorCode.CODE_INACTIVE: "web-error-code-inactive",
    ErrorCode.NOT_READY: "web-error-not-ready",
    ErrorCode.HTTP_ERROR: "web-error-http",
}
_BY_STATUS = {
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
}
# Only this many field problems are listed: a hostile body can have thousands.
_MAX_FIELDS = 20


class FieldProblem(BaseModel):
    field: str
    problem: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    fields: list[FieldProblem] | None = None


# For routes' ``responses=``: the OpenAPI document then shows the real error shape.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (404, 405, 413, 422, 500)
}


class ApiError(Exception):
    """Raised by a route to answer with an error of its own code."""

    def __init__(
        self, status: int, code: ErrorCode, args: Mapping[str, object] | None = None
    ) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.args_ = dict(args or {})


class ErrorRenderer:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def message(
        self, request: Request, code: ErrorCode, args: Mapping[str, object] | None = None
    ) -> str:
        lang = pick_language(
            request.headers.get("accept-language"), self._catalog.languages, self._catalog.default
        )
        return self._catalog.text(lang, _MESSAGES[code], args)

    def response(
        self,
        request: Request,
        status: int,
        code: ErrorCode,
        args: Mapping[str, object] | None = None,
        *,
        fields: list[FieldProblem] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> JSONResponse:
        body = ErrorBody(code=code, message=self.message(request, code, args), fields=fields)
        return JSONResponse(
            body.model_dump(exclude_none=True), status_code=status, headers=headers
        )


def install_error_handlers(app: FastAPI, renderer: ErrorRenderer, max_body: int) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return renderer.response(request, exc.status, exc.code, exc.args_)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = _BY_STATUS.get(exc.status_code, ErrorCode.HTTP_ERROR)
        args = {"limit": max_body} if code is ErrorCode.PAYLOAD_TOO_LARGE else None
        headers = dict(exc.headers) if exc.headers else None  # e.g. Allow on a 405
        return renderer.response(request, exc.status_code, code, args, headers=headers)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        types = {str(e.get("type")) for e in errors}
        problems = [_problem(e) for e in errors[:_MAX_FIELDS]]
        if "json_invalid" in types:
            return renderer.response(request, 422, ErrorCode.INVALID_JSON, fields=problems)
        if "extra_forbidden" in types:
            unknown = [p.field for p in problems if p.type == "extra_forbidden"]
            return renderer.response(
                request,
                422,
                ErrorCode.UNKNOWN_FIELD,
                {"fields": ", ".join(unknown)},
                fields=problems,
            )
        return renderer.response(request, 422, ErrorCode.INVALID_REQUEST, fields=problems)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type only: the text of an unexpected error may carry request data.
        route = getattr(request.scope.get("route"), "path", "unmatched")
        log.error("web: unexpected %s on %s %s", type(exc).__name__, request.method, route)
        return renderer.response(request, 500, ErrorCode.INTERNAL)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(Exception, unexpected)


def _problem(error: Mapping[str, Any]) -> FieldProblem:
    loc = ".".join(str(part) for part in error.get("loc", ()))
    # Cut: a field name in an unknown-field error comes from the client.
    return FieldProblem(
        field=loc[:200], problem=str(error.get("msg", ""))[:200], type=str(error.get("type"))
    )
