"""Routes of the referral landing page and its QR codes."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from core.services.landing import LandingMiss, LandingPage, LandingService
from core.texts import Catalog
from web import pages, qr
from web.errors import ERROR_RESPONSES, ApiError, ErrorCode
from web.language import pick_language

# The query is read as text of any shape and judged by core (normalize_code and source_tag
# are total and cut long input first): a visitor with a mangled link gets the friendly page,
# not a validation error. The server bounds the URL's length.
CodeParam = Annotated[str | None, Query()]
SourceParam = Annotated[str | None, Query()]
# QR codes change only when a park's public URL does; a printer may fetch them again.
_QR_CACHE = "public, max-age=3600"


def landing_router(landing: LandingService, catalog: Catalog) -> APIRouter:
    router = APIRouter(responses=ERROR_RESPONSES)

    def texts(request: Request) -> pages.Texts:
        lang = pick_language(
            request.headers.get("accept-language"), catalog.languages, catalog.default
        )
        return pages.Texts(catalog, lang)

    @router.get(
        "/ref",
        response_class=HTMLResponse,
        summary="The referral landing page of a code",
        responses={404: {"description": "Unknown or deactivated code: a page with the bots"}},
    )
    async def landing_page(
        request: Request, code: CodeParam = None, src: SourceParam = None
    ) -> HTMLResponse:
        found = await landing.visit(code, src, host=request.headers.get("host"))
        t = texts(request)
        nonce = secrets.token_urlsafe(16)
        if isinstance(found, LandingPage):
            svg = qr.svg_inline(found.links.page, t.catalog.text(t.lang, "web-qr-title"))
            html, status = pages.landing_html(t, found, svg, nonce), 200
        else:
            html, status = pages.miss_html(t, found, nonce), 404
        return HTMLResponse(
            html,
            status_code=status,
            headers={
                "Content-Security-Policy": pages.content_security_policy(nonce),
                # Each load is a visit to count; a cached page would not be.
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
                "Vary": "Accept-Language",
            },
        )

    async def found_page(code: str, src: str | None) -> LandingPage:
        found = await landing.page(code, src)
        if isinstance(found, LandingMiss):
            raise ApiError(
                404, ErrorCode.CODE_INACTIVE if found.inactive else ErrorCode.CODE_NOT_FOUND
            )
        return found

    @router.get(
        "/ref/{code}/qr.svg",
        response_class=Response,
        summary="QR code of a code's landing page, SVG",
        responses={200: {"content": {"image/svg+xml": {}}}},
    )
    async def qr_svg(code: str, src: SourceParam = None) -> Response:
        page = await found_page(code, src)
        return Response(
            qr.svg_file(page.links.page),
            media_type="image/svg+xml",
            headers={"Cache-Control": _QR_CACHE, "X-Content-Type-Options": "nosniff"},
        )

    @router.get(
        "/ref/{code}/qr.png",
        response_class=Response,
        summary="QR code of a code's landing page, PNG",
        responses={200: {"content": {"image/png": {}}}},
    )
    async def qr_png(code: str, src: SourceParam = None) -> Response:
        page = await found_page(code, src)
        return Response(
            qr.png_file(page.links.page),
            media_type="image/png",
            headers={"Cache-Control": _QR_CACHE, "X-Content-Type-Options": "nosniff"},
        )

    return router
