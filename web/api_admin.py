"""The admin API under ``/api/v1/admin``: the same core services as the CLI.

Every call carries ``Authorization: Bearer <[web] admin_token>``, compared in constant time;
none, a wrong one, or no token configured at all is 401 ``unauthorized``.
"""

# No ``from __future__ import annotations``: FastAPI reads the routes' closures' parameters
# (see web.api_partner).

import csv
import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, date, datetime, tzinfo
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.domain import limits
from core.domain.broadcast import (
    FILTER_KEYS,
    KEY_CHARS,
    Audience,
    BadBroadcast,
    BroadcastFilter,
    BroadcastState,
    NoSuchBroadcast,
    Progress,
)
from core.domain.broadcast import MAX_TEXT as MAX_BROADCAST_TEXT
from core.domain.cabinet import FunnelBy
from core.domain.codes import normalize_code
from core.domain.csv_records import MAX_FIELD, CsvFileError, csv_cell
from core.domain.errors import (
    CodeRefused,
    DomainError,
    DriverNotFound,
    DuplicatePartner,
    InvalidPhoneError,
    UnknownPark,
)
from core.domain.model import Channel, DriverCard, Partner, Source
from core.domain.operators import (
    DRIVER_COLUMNS,
    PARTNER_COLUMNS,
    UNFINISHED_COLUMNS,
    DriverFilter,
    PartnerImport,
    PartnerLine,
    Stage,
    driver_record,
    partner_record,
    unfinished_record,
)
from core.services.admin import AdminService, moment
from core.services.broadcast import BroadcastService
from core.services.erasure import AlreadyForgotten
from core.services.partner_cabinet import PartnerCabinet
from web.api_auth import admin_token_guard
from web.api_errors import ApiProblem, RowId, responses
from web.api_partner import FunnelBody, StatsBody, stats_body

PREFIX = "/api/v1/admin"
ACTOR = "admin-api"


class ParkBody(BaseModel):
    slug: str
    name: str
    landing_url: str
    telegram: str | None
    vk: str | None
    timezone: str


class PartnerBody(BaseModel):
    id: int | None
    park: str
    phone: str
    name: str | None
    code: str
    alerts: str
    created_at: datetime | None

    @classmethod
    def of(cls, p: Partner) -> "PartnerBody":
        return cls(
            id=p.id,
            park=p.park,
            phone=p.phone,
            name=p.name,
            code=p.code,
            alerts=p.alerts.value,
            created_at=p.created_at,
        )


class NewPartner(BaseModel):
    model_config = ConfigDict(extra="forbid")

    park: str = Field(min_length=1, max_length=limits.SLUG)
    phone: str = Field(min_length=1, max_length=4 * limits.PHONE)
    name: str | None = Field(default=None, max_length=limits.PERSON_NAME)


class EnteredCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    park: str = Field(min_length=1, max_length=limits.SLUG)
    phone: str = Field(min_length=1, max_length=4 * limits.PHONE)
    code: str | None = Field(max_length=64, description="null clears it")


class AuditBody(BaseModel):
    field: str
    old: str | None
    new: str | None
    actor: str
    at: datetime


class ConsentBody(BaseModel):
    """A consent as recorded: when, in which channel, which policy URL was shown."""

    at: datetime
    channel: str | None
    policy_url: str | None

    @classmethod
    def of(
        cls, at: datetime | None, channel: Channel | None, url: str | None
    ) -> "ConsentBody | None":
        if at is None:
            return None
        return cls(at=at, channel=channel.value if channel else None, policy_url=url)


class ForgottenBody(BaseModel):
    driver_id: int
    park: str
    forgotten_at: datetime


class DriverBody(BaseModel):
    id: int | None
    park: str
    phone: str
    name: str | None
    own_code: str
    entered_code: str | None
    channel: str
    source: str
    source_tag: str | None
    referrer_name: str | None
    referrer_phone: str | None
    identities: list[str]
    audit: list[AuditBody]
    registered_at: datetime | None
    consent: ConsentBody | None = Field(description="Consent to personal-data processing")
    mailing: ConsentBody | None = Field(description="Mailing opt-in; null if none or /stop")

    @classmethod
    def of(cls, card: DriverCard) -> "DriverBody":
        d = card.driver
        return cls(
            id=d.id,
            park=d.park,
            phone=d.phone,
            name=d.name,
            own_code=d.own_code,
            entered_code=d.entered_code,
            channel=d.channel.value,
            source=d.source.value,
            source_tag=d.source_tag,
            referrer_name=card.referrer_name,
            referrer_phone=card.referrer_phone,
            identities=[f"{i.channel.value}:{i.user_id}" for i in card.identities],
            audit=[
                AuditBody(field=a.field, old=a.old, new=a.new, actor=a.actor, at=a.at)
                for a in card.audit
            ],
            registered_at=d.created_at,
            consent=ConsentBody.of(d.consent_at, d.consent_channel, d.consent_url),
            mailing=ConsentBody.of(d.mailing_at, d.mailing_channel, d.mailing_url),
        )


class ParkFunnel(BaseModel):
    park: str
    stats: StatsBody


class NewBroadcast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    park: str = Field(max_length=limits.SLUG)
    to: Audience
    text: str = Field(max_length=MAX_BROADCAST_TEXT)
    filter: list[str] = Field(default_factory=list, max_length=len(FILTER_KEYS))
    """``key=value`` items as ``taxireg broadcast --filter`` takes them."""
    key: str | None = Field(default=None, max_length=KEY_CHARS)
    """Idempotency key; default: a hash of park, audience, filter and text."""
    dry_run: bool = False


class BroadcastPlanBody(BaseModel):
    park: str
    to: Audience
    filter: str
    key: str
    recipients: int
    skipped: int
    sample: str
    existing_id: int | None


class BroadcastBody(BaseModel):
    id: int
    park: str
    to: Audience
    filter: str
    key: str
    state: BroadcastState
    created_by: str
    created_at: datetime
    cancelled_at: datetime | None
    recipients: int
    skipped: int
    pending: int
    sent: int
    failed: int
    unreachable: int
    cancelled: int
    finished: bool
    created: bool | None = None

    @classmethod
    def of(cls, p: Progress, created: bool | None = None) -> "BroadcastBody":
        b = p.broadcast
        return cls(
            id=b.id,
            park=b.park,
            to=b.audience,
            filter=b.filter,
            key=b.key,
            state=b.state,
            created_by=b.created_by,
            created_at=b.created_at,
            cancelled_at=b.cancelled_at,
            recipients=b.queued,
            skipped=b.skipped,
            pending=p.pending,
            sent=p.sent,
            failed=p.failed,
            unreachable=p.unreachable,
            cancelled=p.cancelled,
            finished=p.finished,
            created=created,
        )


class ImportRow(BaseModel):
    """One partner of a JSON import: the columns of the CSV file."""

    model_config = ConfigDict(extra="forbid")
    phone: str = Field(max_length=4 * limits.PHONE)
    name: str | None = Field(default=None, max_length=MAX_FIELD)
    code: str | None = Field(default=None, max_length=64)
    alerts: str | None = Field(default=None, max_length=16)


class ImportRows(BaseModel):
    """``{"rows": [...]}``; a refused row is named by its position, the first being 1."""

    model_config = ConfigDict(extra="forbid")
    rows: list[ImportRow]


class Refusal(BaseModel):
    line: int
    reason: str


class ImportBody(BaseModel):
    added: int
    existing: int
    refused: list[Refusal]

    @classmethod
    def of(cls, report: PartnerImport) -> "ImportBody":
        refused = [Refusal(line=line, reason=reason) for line, reason in report.refused]
        return cls(added=report.added, existing=report.existing, refused=refused)


class ExportFormat(StrEnum):
    CSV = "csv"
    NDJSON = "ndjson"  # one JSON object a line


_MEDIA = {ExportFormat.CSV: "text/csv; charset=utf-8", ExportFormat.NDJSON: "application/x-ndjson"}
_CSV_TYPES = ("text/csv", "application/csv", "text/plain")
_STREAMED: dict[str, Any] = {"content": {m.partition(";")[0]: {} for m in _MEDIA.values()}}


async def _encoded(
    fmt: ExportFormat,
    headers: Sequence[str],
    pages: AsyncIterator[list[Any]],
    record: Callable[[Any], dict[str, object]],
) -> AsyncIterator[str]:
    """The listing as it is read: one chunk of text per page, so a response of any size
    holds one page (the same columns and cells as the CLI's ``--csv``)."""
    if fmt is ExportFormat.CSV:
        yield ",".join(headers) + "\n"
    async for page in pages:
        out = io.StringIO()
        if fmt is ExportFormat.CSV:
            writer = csv.writer(out, lineterminator="\n")
            for item in page:
                values = record(item)
                writer.writerow([csv_cell(values.get(h)) for h in headers])
        else:
            for item in page:
                out.write(json.dumps(record(item), ensure_ascii=False, default=_iso) + "\n")
        yield out.getvalue()


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def _download(name: str, fmt: ExportFormat, chunks: AsyncIterator[str]) -> StreamingResponse:
    filename = f"{name}.{'csv' if fmt is ExportFormat.CSV else 'ndjson'}"
    return StreamingResponse(
        chunks,
        media_type=_MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def admin_router(
    admin: AdminService,
    cabinet: PartnerCabinet,
    token: str | None,
    broadcasts: BroadcastService | None = None,
) -> APIRouter:
    router = APIRouter(
        prefix=PREFIX, tags=["admin"], dependencies=[Depends(admin_token_guard(token))]
    )

    @router.get("/parks", response_model=list[ParkBody], responses=responses(401))
    async def parks() -> list[ParkBody]:
        return [
            ParkBody(
                slug=p.slug,
                name=p.name,
                landing_url=p.landing_url,
                telegram=p.telegram_link,
                vk=p.vk_link,
                timezone=p.timezone,
            )
            for p in admin.parks.values()
        ]

    @router.get("/partners", response_model=list[PartnerBody], responses=responses(401, 404))
    async def partners(
        park: Annotated[str | None, Query(max_length=limits.SLUG)] = None,
    ) -> list[PartnerBody]:
        with _domain_errors():
            found = await admin.list_partners(park)
        return [PartnerBody.of(p) for p in found]

    @router.post(
        "/partners",
        status_code=201,
        response_model=PartnerBody,
        responses=responses(401, 404, 409, 422),
    )
    async def add_partner(body: NewPartner) -> PartnerBody:
        with _domain_errors():
            return PartnerBody.of(await admin.add_partner(body.park, body.phone, body.name))

    @router.post(
        "/partners/{code}/deactivate",
        status_code=204,
        responses=responses(401, 404),
        summary="Deactivate a partner's code: links and typed codes stop working",
    )
    async def deactivate(code: Annotated[str, Path(max_length=64)]) -> None:
        if not await admin.set_code_active(code, False):
            raise ApiProblem(404, "not_found")

    @router.post(
        "/partners/{code}/reissue",
        response_model=PartnerBody,
        responses=responses(401, 422),
        summary="Give the partner a new code; the old one is deactivated",
    )
    async def reissue(code: Annotated[str, Path(max_length=64)]) -> PartnerBody:
        with _domain_errors():
            return PartnerBody.of(await admin.reissue_code(code))

    @router.get("/drivers", response_model=DriverBody, responses=responses(401, 404, 422))
    async def driver(
        park: Annotated[str, Query(max_length=limits.SLUG)],
        phone: Annotated[str, Query(max_length=4 * limits.PHONE)],
    ) -> DriverBody:
        with _domain_errors():
            return DriverBody.of(await admin.driver_card(park, phone))

    @router.put(
        "/drivers/entered-code",
        response_model=DriverBody,
        responses=responses(401, 404, 422),
        summary="Set or clear the code a driver entered at registration (audited)",
    )
    async def entered_code(body: EnteredCode) -> DriverBody:
        with _domain_errors():
            card = await admin.set_entered_code(body.park, body.phone, body.code, ACTOR)
        return DriverBody.of(card)

    @router.delete(
        "/drivers/{driver_id}",
        response_model=ForgottenBody,
        responses=responses(401, 404, 409),
        summary="Erase a driver's personal data on request (audited, cannot be undone)",
    )
    async def forget(driver_id: RowId) -> ForgottenBody:
        with _domain_errors():
            done = await admin.forget_driver_id(driver_id, ACTOR)
        return ForgottenBody(driver_id=done.driver_id, park=done.park, forgotten_at=done.at)

    _bulk_routes(router, admin)

    @router.get("/funnel", response_model=list[ParkFunnel], responses=responses(401, 422))
    async def funnel(
        since: Annotated[date, Query(alias="from")],
        until: Annotated[date, Query(alias="to")],
        by: FunnelBy = FunnelBy.DAY,
    ) -> list[ParkFunnel]:
        result = []
        for slug in admin.parks:
            try:
                rows = await cabinet.funnel(slug, None, since, until, by)
            except ValueError:
                raise ApiProblem(422, "dates_invalid") from None
            bodies = [FunnelBody.of(r) for r in rows]
            result.append(ParkFunnel(park=slug, stats=stats_body(by, since, until, bodies)))
        return result

    if broadcasts is not None:
        _broadcast_routes(router, broadcasts)
    return router


def _bulk_routes(router: APIRouter, admin: AdminService) -> None:
    """The twins of ``taxireg partner import|export`` and ``taxireg driver list``."""

    @router.post(
        "/partners/import",
        response_model=ImportBody,
        responses=responses(401, 404, 413, 415, 422),
        summary="Add partners to a park from a CSV body (text/csv: the file of taxireg "
        "partner import) or JSON rows; idempotent by phone, bad lines refused with reasons",
    )
    async def import_partners(
        request: Request, park: Annotated[str, Query(max_length=limits.SLUG)]
    ) -> ImportBody:
        kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if kind not in (*_CSV_TYPES, "application/json"):
            raise ApiProblem(415, "unsupported_media_type")
        data = await request.body()
        with _domain_errors():
            admin.park(park)
            if kind in _CSV_TYPES:
                try:
                    report = await admin.import_partner_csv(park, data)
                except CsvFileError as exc:
                    reason = {"reason": str(exc)}
                    raise ApiProblem(422, "file_unreadable", "api-refused", reason) from None
            else:
                try:
                    rows = ImportRows.model_validate_json(data).rows
                except ValidationError as exc:
                    raise RequestValidationError(exc.errors(include_input=False)) from None
                lines = [
                    PartnerLine(n, r.phone, r.name, r.code, r.alerts)
                    for n, r in enumerate(rows, start=1)
                ]
                report = await admin.import_partners(park, lines)
        return ImportBody.of(report)

    @router.get(
        "/partners/export",
        response_class=StreamingResponse,
        responses={**responses(401, 404, 422), 200: _STREAMED},
        summary="Every partner (of one park or all), streamed by id: CSV (the columns "
        "partner import reads first) or NDJSON",
    )
    async def export_partners(
        park: Annotated[str | None, Query(max_length=limits.SLUG)] = None,
        format: ExportFormat = ExportFormat.CSV,
    ) -> StreamingResponse:
        with _domain_errors():
            if park is not None:
                admin.park(park)  # refused before the 200 and its first bytes
        chunks = _encoded(format, PARTNER_COLUMNS, admin.partner_pages(park), partner_record)
        return _download("partners", format, chunks)

    @router.get(
        "/drivers/export",
        response_class=StreamingResponse,
        responses={**responses(401, 404, 422), 200: _STREAMED},
        summary="Registered drivers (or unfinished registrations) with the filters of "
        "taxireg driver list, streamed by id as CSV or NDJSON",
    )
    async def export_drivers(
        park: Annotated[str | None, Query(max_length=limits.SLUG)] = None,
        since: Annotated[str | None, Query(max_length=40)] = None,
        until: Annotated[str | None, Query(max_length=40)] = None,
        code: Annotated[str | None, Query(max_length=64)] = None,
        source: Source | None = None,
        channel: Channel | None = None,
        stage: Stage = Stage.REGISTERED,
        format: ExportFormat = ExportFormat.CSV,
    ) -> StreamingResponse:
        with _domain_errors():
            zone: tzinfo = UTC
            if park is not None:
                zone = ZoneInfo(admin.park(park).timezone)
            entered = None
            if code is not None:
                entered = normalize_code(code)
                if entered is None:
                    raise CodeRefused(f"not a referral code: {code[:40]!r}")
            where = DriverFilter(
                park=park,
                since=moment(since, zone),
                until=moment(until, zone, end=True),
                code=entered,
                source=source,
                channel=channel,
            )
            if where.since and where.until and where.until <= where.since:
                raise DomainError("until must be after since")
        if stage is Stage.UNFINISHED:
            chunks = _encoded(
                format, UNFINISHED_COLUMNS, admin.unfinished_pages(where), unfinished_record
            )
        else:
            chunks = _encoded(format, DRIVER_COLUMNS, admin.driver_pages(where), driver_record)
        return _download("drivers", format, chunks)


def _broadcast_routes(router: APIRouter, broadcasts: BroadcastService) -> None:
    """The twin of ``taxireg broadcast``: the same core service, queued for the relay."""

    @router.post(
        "/broadcasts",
        response_model=BroadcastBody | BroadcastPlanBody,
        responses=responses(401, 404, 422),
        summary="Queue a message to a park's partners or consenting drivers (dry_run: "
        "only count them); the same key twice queues nothing new",
    )
    async def new_broadcast(body: NewBroadcast) -> BroadcastBody | BroadcastPlanBody:
        with _domain_errors():
            flt = BroadcastFilter.parse(body.filter)
            plan = await broadcasts.plan(body.park, body.to, flt, body.text, body.key)
            if body.dry_run:
                return BroadcastPlanBody(
                    park=plan.park.slug,
                    to=plan.audience,
                    filter=flt.canonical(),
                    key=plan.key,
                    recipients=plan.audit.reachable,
                    skipped=plan.audit.skipped,
                    sample=plan.text,
                    existing_id=plan.existing.id if plan.existing else None,
                )
            made, created = await broadcasts.create(plan, ACTOR)
            return BroadcastBody.of(await broadcasts.get(made.id), created)

    @router.get(
        "/broadcasts/{broadcast_id}", response_model=BroadcastBody, responses=responses(401, 404)
    )
    async def broadcast(broadcast_id: RowId) -> BroadcastBody:
        with _domain_errors():
            return BroadcastBody.of(await broadcasts.get(broadcast_id))

    @router.post(
        "/broadcasts/{broadcast_id}/cancel",
        response_model=BroadcastBody,
        responses=responses(401, 404),
        summary="Cancel a broadcast's unsent messages",
    )
    async def cancel_broadcast(
        broadcast_id: RowId,
    ) -> BroadcastBody:
        with _domain_errors():
            progress, _ = await broadcasts.cancel(broadcast_id, ACTOR)
        return BroadcastBody.of(progress)


class _domain_errors:  # noqa: N801 - used as a statement: ``with _domain_errors():``
    """Domain refusals as API errors: one clear code each, never a 500."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        if isinstance(exc, UnknownPark):
            raise ApiProblem(404, "unknown_park") from None
        if isinstance(exc, NoSuchBroadcast):
            raise ApiProblem(404, "not_found") from None
        if isinstance(exc, BadBroadcast):
            raise ApiProblem(422, "refused", "api-refused", {"reason": str(exc)}) from None
        if isinstance(exc, DriverNotFound):
            raise ApiProblem(404, "driver_not_found", "api-not-found") from None
        if isinstance(exc, InvalidPhoneError):
            raise ApiProblem(422, "phone_invalid") from None
        if isinstance(exc, DuplicatePartner):
            raise ApiProblem(
                409,
                "partner_exists",
                "api-refused",
                {"reason": str(exc)},
            ) from None
        if isinstance(exc, AlreadyForgotten):
            raise ApiProblem(
                409, "already_forgotten", "api-refused", {"reason": str(exc)}
            ) from None
        if isinstance(exc, CodeRefused):
            raise ApiProblem(422, "code_refused", "api-refused", {"reason": str(exc)}) from None
        if isinstance(exc, DomainError):  # any other refusal (a bad date in a filter ...)
            raise ApiProblem(422, "refused", "api-refused", {"reason": str(exc)}) from None
