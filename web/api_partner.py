"""The partner cabinet API under ``/api/v1/partner``: sign-in by phone and SMS code, then a
bearer token for the partner's own code, links, referrals and funnel.

A missing or unknown token is 401 ``unauthorized``; an expired one 401 ``token_expired``.
Nothing in a request names a partner: every read uses the token's partner.
"""

# No ``from __future__ import annotations``: the routes' dependencies are closures, and
# FastAPI resolves string annotations only against module globals.
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from core.domain.bonus import Beneficiary
from core.domain.bonus_payouts import Payout
from core.domain.cabinet import FunnelBy, FunnelRow
from core.domain.errors import UnknownPark
from core.domain.model import Channel, OwnerKind, Partner
from core.services.ledger import LedgerService, PayoutRefused
from core.services.partner_cabinet import (
    PAGE_MAX,
    CabinetDenied,
    PartnerCabinet,
    SignedIn,
)
from core.texts import Catalog
from web.api_app import Links, SmsRequest, SmsSent, app_problem
from web.api_errors import ApiProblem, language, responses

PREFIX = "/api/v1/partner"
_bearer = HTTPBearer(auto_error=False, description="The token from POST /sessions")


class SessionRequest(SmsRequest):
    sms_code: str = Field(min_length=1, max_length=16, examples=["123456"])


class PartnerInfo(BaseModel):
    park: str
    name: str | None
    code: str


class Session(BaseModel):
    token: str
    token_type: str = "bearer"
    expires_at: datetime
    partner: PartnerInfo


class MeBody(BaseModel):
    park: str
    park_name: str
    name: str | None
    code: str
    links: Links
    qr_url: str


class Referral(BaseModel):
    first_name: str | None = Field(description="«удалён» when the driver's data was erased")
    phone: str = Field(description="Masked: +7 *** ***-45-67; «удалён» when erased")
    erased: bool = Field(default=False, description="The driver's personal data was erased")
    channel: Channel
    source: str
    source_tag: str | None
    registered_at: datetime


class ReferralsBody(BaseModel):
    items: list[Referral]
    next_cursor: str | None


class FunnelBody(BaseModel):
    key: str
    visits: int
    opened: int
    phone_confirmed: int
    registered: int
    reminded: int = 0
    """Unfinished registrations that got the one reminder ..."""
    reminded_registered: int = 0
    """... and those of them that then registered."""

    @classmethod
    def of(cls, row: FunnelRow) -> "FunnelBody":
        return cls(
            key=row.key,
            visits=row.visits,
            opened=row.opened,
            phone_confirmed=row.phone_confirmed,
            registered=row.registered,
            reminded=row.reminded,
            reminded_registered=row.reminded_registered,
        )


class StatsBody(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    by: FunnelBy
    since: date = Field(serialization_alias="from")
    until: date = Field(serialization_alias="to")
    rows: list[FunnelBody]
    total: FunnelBody


def total(rows: list[FunnelBody]) -> FunnelBody:
    return FunnelBody(
        key="total",
        visits=sum(r.visits for r in rows),
        opened=sum(r.opened for r in rows),
        phone_confirmed=sum(r.phone_confirmed for r in rows),
        registered=sum(r.registered for r in rows),
        reminded=sum(r.reminded for r in rows),
        reminded_registered=sum(r.reminded_registered for r in rows),
    )


class BalanceBody(BaseModel):
    """Integer kopecks."""

    accrued: int
    reserved: int
    paid: int
    available: int


class AccrualBody(BaseModel):
    id: int
    order: str
    referred_driver_id: int
    level: int
    amount_kopecks: int
    month: str
    reversal_of: int | None


class AccrualsBody(BaseModel):
    items: list[AccrualBody]
    next_cursor: str | None


class PayoutBody(BaseModel):
    id: int
    amount_kopecks: int
    status: str
    requested_at: datetime
    updated_at: datetime
    note: str | None


class PayoutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount_kopecks: int = Field(gt=0, le=10**12)


def _payout(p: Payout) -> PayoutBody:
    return PayoutBody(
        id=p.id,
        amount_kopecks=p.amount_kopecks,
        status=p.status.value,
        requested_at=p.requested_at,
        updated_at=p.updated_at,
        note=p.note,
    )


def partner_router(
    cabinet: PartnerCabinet, catalog: Catalog, ledger: LedgerService | None = None
) -> APIRouter:
    """``ledger``: the bonus ledger's service, for payout requests (its rules); without it
    the balance and statements are still read, and POST /payouts is not offered."""
    router = APIRouter(prefix=PREFIX, tags=["partner"])

    async def token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        if credentials is None or not credentials.credentials:
            raise _denied("unauthorized")
        return credentials.credentials[:512]

    async def partner(raw: Annotated[str, Depends(token)]) -> Partner:
        try:
            return await cabinet.authenticate(raw)
        except CabinetDenied as exc:
            raise _denied(exc.reason.value) from None

    Authed = Annotated[Partner, Depends(partner)]  # noqa: N806 - a type alias

    @router.post(
        "/sms",
        response_model=SmsSent,
        responses=responses(422, 429, 502),
        summary="Send a sign-in code to a partner's phone",
    )
    async def send_sms(body: SmsRequest, request: Request) -> SmsSent:
        _known_park(cabinet, body.park)
        lang = language(request, catalog)
        result = await cabinet.send_code(body.park, body.phone, lang)
        if result.outcome.value == "sms_sent":
            return SmsSent(message=catalog.text(lang, "api-sms-sent"))
        raise app_problem(result)

    @router.post(
        "/sessions",
        status_code=201,
        response_model=Session,
        responses=responses(400, 422, 429),
        summary="Sign in with the SMS code: a bearer token valid for 24 hours",
    )
    async def sign_in(body: SessionRequest) -> Session:
        _known_park(cabinet, body.park)
        result = await cabinet.sign_in(body.park, body.phone, body.sms_code)
        if not isinstance(result, SignedIn):
            raise app_problem(result)
        p = result.partner
        return Session(
            token=result.token,
            expires_at=result.expires_at,
            partner=PartnerInfo(park=p.park, name=p.name, code=p.code),
        )

    @router.delete(
        "/sessions/current",
        status_code=204,
        responses=responses(401),
        summary="Sign out: the token stops working",
    )
    async def sign_out(_: Authed, raw: Annotated[str, Depends(token)]) -> Response:
        await cabinet.sign_out(raw)
        return Response(status_code=204)

    @router.get("/me", response_model=MeBody, responses=responses(401))
    async def me(who: Authed) -> MeBody:
        found = cabinet.me(who)
        return MeBody(
            park=found.park.slug,
            park_name=found.park.name,
            name=who.name,
            code=who.code,
            links=Links.of(found.links),
            qr_url=found.qr_url,
        )

    @router.get("/referrals", response_model=ReferralsBody, responses=responses(401, 422))
    async def referrals(
        who: Authed,
        request: Request,
        cursor: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    ) -> ReferralsBody:
        try:
            page = await cabinet.referrals(who, cursor, limit)
        except ValueError:
            raise ApiProblem(422, "cursor_invalid") from None
        erased = catalog.text(language(request, catalog), "referral-erased")
        return ReferralsBody(
            items=[
                Referral(
                    first_name=erased if r.erased else r.first_name,
                    phone=erased if r.erased else r.phone_masked,
                    erased=r.erased,
                    channel=r.channel,
                    source=r.source,
                    source_tag=r.source_tag,
                    registered_at=r.registered_at,
                )
                for r in page.items
            ],
            next_cursor=page.next_cursor,
        )

    @router.get("/stats", response_model=StatsBody, responses=responses(401, 422))
    async def stats(
        who: Authed,
        since: Annotated[date, Query(alias="from")],
        until: Annotated[date, Query(alias="to")],
        by: FunnelBy = FunnelBy.DAY,
    ) -> StatsBody:
        try:
            rows = await cabinet.stats(who, since, until, by)
        except ValueError:
            raise ApiProblem(422, "dates_invalid") from None
        bodies = [FunnelBody.of(r) for r in rows]
        return stats_body(by, since, until, bodies)

    @router.get("/balance", response_model=BalanceBody, responses=responses(401))
    async def balance(who: Authed) -> BalanceBody:
        b = await cabinet.balance(who)
        return BalanceBody(
            accrued=b.accrued, reserved=b.reserved, paid=b.paid, available=b.available
        )

    @router.get("/accruals", response_model=AccrualsBody, responses=responses(401, 422))
    async def accruals(
        who: Authed,
        cursor: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    ) -> AccrualsBody:
        try:
            rows, next_cursor = await cabinet.accruals(who, cursor, limit)
        except ValueError:
            raise ApiProblem(422, "cursor_invalid") from None
        return AccrualsBody(
            items=[
                AccrualBody(
                    id=r.id,
                    order=r.accrual.order_external_id,
                    referred_driver_id=r.accrual.referred_driver_id,
                    level=r.accrual.level,
                    amount_kopecks=r.accrual.amount_kopecks,
                    month=r.accrual.month,
                    reversal_of=r.accrual.reversal_of,
                )
                for r in rows
            ],
            next_cursor=next_cursor,
        )

    @router.get("/payouts", response_model=list[PayoutBody], responses=responses(401))
    async def payouts(who: Authed) -> list[PayoutBody]:
        return [_payout(p) for p in await cabinet.payouts(who)]

    if ledger is not None:

        @router.post(
            "/payouts",
            status_code=201,
            response_model=PayoutBody,
            responses=responses(401, 404, 422),
            summary="Request a payout from the available balance (the park's rules apply)",
        )
        async def request_payout(who: Authed, body: PayoutRequest) -> PayoutBody:
            assert who.id is not None
            owner = Beneficiary(OwnerKind.PARTNER, who.id)
            try:
                payout = await ledger.request_payout(who.park, owner, body.amount_kopecks)
            except PayoutRefused as exc:
                raise ApiProblem(
                    422, "payout_refused", "api-refused", {"reason": str(exc)}
                ) from None
            except UnknownPark:
                raise ApiProblem(404, "unknown_park") from None
            return _payout(payout)

    return router


def stats_body(by: FunnelBy, since: date, until: date, rows: list[FunnelBody]) -> StatsBody:
    return StatsBody(by=by, since=since, until=until, rows=rows, total=total(rows))


def _known_park(cabinet: PartnerCabinet, park: str) -> None:
    if park not in cabinet.parks:
        raise ApiProblem(404, "unknown_park")


def _denied(code: str) -> ApiProblem:
    return ApiProblem(401, code, headers={"WWW-Authenticate": "Bearer"})
