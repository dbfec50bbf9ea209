"""The app registration API: ``POST /api/v1/app/sms`` and ``/api/v1/app/registrations``.

The park's app sends its key as ``X-Api-Key``; a missing, wrong or other park's key is 401
(``api_key_invalid``), compared in constant time. Every outcome of the registration rules
(``core.services.app_registration``) is one status and one stable ``code``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from core.domain import limits
from core.domain.landing import LandingLinks
from core.domain.model import OwnerKind
from core.services.app_registration import AppOutcome, AppRegistrationService, AppResult
from core.texts import Catalog
from web.api_auth import check_api_key
from web.api_errors import ApiProblem, language, responses

PREFIX = "/api/v1/app"


class SmsRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    park: str = Field(min_length=1, max_length=limits.SLUG, examples=["mos"])
    phone: str = Field(min_length=1, max_length=4 * limits.PHONE, examples=["+79161234567"])


class RegistrationRequest(SmsRequest):
    sms_code: str = Field(min_length=1, max_length=16, examples=["123456"])
    promo_code: str | None = Field(default=None, max_length=64, examples=["ab12cd34"])
    name: str | None = Field(default=None, max_length=limits.PERSON_NAME)


class Links(BaseModel):
    page: str
    telegram: str | None = None
    vk: str | None = None
    app_store: str | None = None
    play_store: str | None = None

    @classmethod
    def of(cls, links: LandingLinks) -> Links:
        return cls(
            page=links.page,
            telegram=links.telegram,
            vk=links.vk,
            app_store=links.app_store,
            play_store=links.play_store,
        )


class SmsSent(BaseModel):
    status: str = "sms_sent"
    message: str


class Registered(BaseModel):
    status: str = "registered"
    message: str
    code: str = Field(description="The driver's own referral code")
    role: OwnerKind
    links: Links


def app_router(
    service: AppRegistrationService, keys: Mapping[str, str], catalog: Catalog
) -> APIRouter:
    """``keys``: each park's app key; a park without one has no app API."""
    router = APIRouter(prefix=PREFIX, tags=["app"])

    def check_key(park: str, key: str | None) -> None:
        check_api_key(keys, service.parks, park, key)

    @router.post(
        "/sms",
        response_model=SmsSent,
        responses=responses(401, 422, 429, 502, 503),
        summary="Send a one-time SMS code to the driver's phone",
    )
    async def send_sms(
        body: SmsRequest,
        request: Request,
        x_api_key: Annotated[str | None, Header(max_length=256)] = None,
    ) -> SmsSent:
        check_key(body.park, x_api_key)
        lang = language(request, catalog)
        result = await service.send_code(body.park, body.phone, lang)
        if result.outcome is AppOutcome.SMS_SENT:
            return SmsSent(message=catalog.text(lang, "api-sms-sent"))
        raise app_problem(result)

    @router.post(
        "/registrations",
        status_code=201,
        response_model=Registered,
        responses=responses(400, 401, 409, 422, 429, 503),
        summary="Confirm the SMS code and register, with an optional promo (referral) code",
    )
    async def register(
        body: RegistrationRequest,
        request: Request,
        x_api_key: Annotated[str | None, Header(max_length=256)] = None,
    ) -> JSONResponse:
        check_key(body.park, x_api_key)
        result = await service.register(
            body.park, body.phone, body.sms_code, body.promo_code, body.name
        )
        if result.outcome is AppOutcome.REGISTERED and result.code and result.links:
            lang = language(request, catalog)
            registered = Registered(
                message=catalog.text(lang, "api-registered"),
                code=result.code,
                role=result.role or OwnerKind.DRIVER,
                links=Links.of(result.links),
            )
            return JSONResponse(registered.model_dump(mode="json"), status_code=201)
        raise app_problem(result)

    return router


_STATUS = {
    AppOutcome.SMS_FAILED: 502,
    AppOutcome.PHONE_INVALID: 422,
    AppOutcome.RATE_LIMITED: 429,
    AppOutcome.SMS_WRONG: 400,
    AppOutcome.SMS_EXPIRED: 400,
    AppOutcome.CODE_UNKNOWN: 422,
    AppOutcome.CODE_INACTIVE: 422,
    AppOutcome.CODE_OWN: 422,
    AppOutcome.CODE_OTHER_PARK: 422,
    AppOutcome.CODE_COOLDOWN: 429,
    AppOutcome.ALREADY_REGISTERED: 409,
    AppOutcome.TRY_LATER: 503,
}


def app_problem(result: AppResult) -> ApiProblem:
    outcome = result.outcome
    status = _STATUS.get(outcome, 503)
    code = outcome.value
    match outcome:
        case AppOutcome.RATE_LIMITED:
            seconds = max(1, result.retry_after or 1)
            return ApiProblem(
                status,
                code,
                args={"seconds": seconds},
                extra={"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            )
        case AppOutcome.CODE_COOLDOWN:
            seconds = max(1, result.retry_after or 1)
            return ApiProblem(
                status,
                code,
                args={"minutes": max(1, (seconds + 59) // 60)},
                extra={"retry_after": seconds},
                headers={"Retry-After": str(seconds)},
            )
        case AppOutcome.SMS_WRONG:
            left = result.attempts_left or 0
            return ApiProblem(status, code, args={"left": left}, extra={"attempts_left": left})
        case AppOutcome.ALREADY_REGISTERED:
            links = Links.of(result.links).model_dump() if result.links else None
            return ApiProblem(
                status,
                code,
                args={"code": result.code or ""},
                extra={"driver_code": result.code, "links": links},
            )
        case AppOutcome.CODE_OTHER_PARK:
            other = result.other_park
            if other is not None and other.telegram_username:
                bot = other.telegram_username
                return ApiProblem(
                    status,
                    code,
                    args={"bot": bot},
                    extra={"park": other.slug, "bot": bot, "bot_link": other.telegram_link},
                )
            name = other.name if other is not None else ""
            link = other.vk_link if other is not None else None
            return ApiProblem(
                status,
                code,
                "api-code-other-park-nobot",
                {"park": name},
                extra={"park": other.slug if other else None, "bot_link": link},
            )
    return ApiProblem(status, code)
