"""The bonus ledger over HTTP: the park's order intake and the admin's payout workflow.

- ``POST /api/v1/orders`` (``X-Api-Key``: the park's ``app_api_key``): up to 1,000 orders,
  imported as one transaction by ``LedgerService.import_orders``: idempotent by (park,
  order id); bad orders and unknown drivers are listed with their index and reason, the
  others kept.
- ``GET /api/v1/admin/payouts`` and ``POST /api/v1/admin/payouts/{id}/{action}`` (admin
  bearer token): list payout requests and move them (``process``, ``confirm``, ``fail``,
  ``cancel``), each move checked by the domain; the requester is told in the bot.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field

from core.domain import limits
from core.domain.bonus_payouts import Actor, Payout, PayoutStatus
from core.domain.bonus_records import ORDER_ID_MAX, OrderInput
from core.domain.errors import UnknownPark
from core.services.ledger import MAX_BATCH, LedgerService, PayoutRefused
from web.api_auth import admin_token_guard, check_api_key
from web.api_errors import ApiProblem, RowId, responses

ORDERS_PATH = "/api/v1/orders"
# 1,000 orders with phones and times are about 150 KB of JSON: above the web's usual cap.
ORDERS_MAX_BODY = 1024 * 1024


class OrderBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(min_length=1, max_length=ORDER_ID_MAX, examples=["A-1001"])
    driver_phone: str | None = Field(default=None, max_length=4 * limits.PHONE)
    driver_id: int | None = Field(default=None, gt=0, lt=2**31)
    completed_at: datetime = Field(examples=["2026-12-03T14:05:00+03:00"])
    price_kopecks: int = Field(ge=0, examples=[45000])
    status: Literal["completed", "cancelled"]


class OrdersRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    park: str = Field(min_length=1, max_length=limits.SLUG, examples=["mos"])
    orders: list[OrderBody] = Field(max_length=MAX_BATCH)


class ProblemBody(BaseModel):
    index: int = Field(description="0-based position in the request's orders")
    order_id: str
    reason: str


class ImportBody(BaseModel):
    accepted: int = Field(description="New completed orders")
    arrived_cancelled: int
    reversed: int = Field(description="Known orders now cancelled: accruals reversed")
    unchanged: int = Field(description="Seen before; nothing to do")
    entries: int = Field(description="Ledger rows written, reversals included")
    accrued_kopecks: int
    reversed_kopecks: int
    problems: list[ProblemBody]


class PayoutBody(BaseModel):
    id: int
    park: str
    owner_kind: str
    owner_id: int
    amount_kopecks: int
    status: PayoutStatus
    requested_at: datetime
    updated_at: datetime
    note: str | None


class MoveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=200)


class PayoutAction(StrEnum):
    PROCESS = "process"
    CONFIRM = "confirm"
    FAIL = "fail"
    CANCEL = "cancel"


_TARGET = {
    PayoutAction.PROCESS: PayoutStatus.PROCESSING,
    PayoutAction.CONFIRM: PayoutStatus.CONFIRMED,
    PayoutAction.FAIL: PayoutStatus.ERROR,
    PayoutAction.CANCEL: PayoutStatus.CANCELLED,
}


def orders_router(ledger: LedgerService, keys: Mapping[str, str]) -> APIRouter:
    """``keys``: each park's API key; a park without one has no order intake."""
    router = APIRouter(prefix="/api/v1", tags=["orders"])

    @router.post(
        "/orders",
        response_model=ImportBody,
        responses=responses(401, 422),
        summary="Import a batch of up to 1,000 orders into the bonus ledger (idempotent)",
    )
    async def import_orders(
        body: OrdersRequest,
        x_api_key: Annotated[str | None, Header(max_length=256)] = None,
    ) -> ImportBody:
        check_api_key(keys, ledger.programs, body.park, x_api_key)
        batch = [
            OrderInput(
                external_id=o.order_id,
                completed_at=o.completed_at,
                price_kopecks=o.price_kopecks,
                status=o.status,
                driver_id=o.driver_id,
                driver_phone=o.driver_phone,
            )
            for o in body.orders
        ]
        report = await ledger.import_orders(body.park, batch)
        problems = sorted(report.invalid + report.unknown_drivers, key=lambda p: p.index)
        return ImportBody(
            accepted=report.accepted,
            arrived_cancelled=report.arrived_cancelled,
            reversed=report.reversed,
            unchanged=report.unchanged,
            entries=report.entries,
            accrued_kopecks=report.accrued_kopecks,
            reversed_kopecks=report.reversed_kopecks,
            problems=[
                ProblemBody(index=p.index, order_id=p.external_id, reason=p.reason)
                for p in problems
            ],
        )

    return router


def admin_payouts_router(ledger: LedgerService, token: str | None) -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/admin", tags=["admin"], dependencies=[Depends(admin_token_guard(token))]
    )

    @router.get("/payouts", response_model=list[PayoutBody], responses=responses(401, 404))
    async def payouts(
        park: Annotated[str | None, Query(max_length=limits.SLUG)] = None,
        status: PayoutStatus | None = None,
    ) -> list[PayoutBody]:
        try:
            found = await ledger.payouts(park=park, status=status)
        except UnknownPark:
            raise ApiProblem(404, "unknown_park") from None
        return [_payout(p) for p in found]

    @router.post(
        "/payouts/{payout_id}/{action}",
        response_model=PayoutBody,
        responses=responses(401, 404, 409),
        summary="Move a payout request: process, confirm, fail or cancel",
    )
    async def move(
        payout_id: RowId, action: PayoutAction, body: MoveRequest | None = None
    ) -> PayoutBody:
        note = body.note if body else None
        try:
            moved = await ledger.move_payout(payout_id, _TARGET[action], Actor.ADMIN, note=note)
        except PayoutRefused as exc:
            if exc.reason == "unknown":
                raise ApiProblem(404, "not_found") from None
            raise ApiProblem(409, "payout_refused", "api-refused", {"reason": str(exc)}) from None
        except UnknownPark:
            raise ApiProblem(404, "unknown_park") from None
        return _payout(moved)

    return router


def _payout(p: Payout) -> PayoutBody:
    return PayoutBody(
        id=p.id,
        park=p.park,
        owner_kind=p.owner.kind.value,
        owner_id=p.owner.id,
        amount_kopecks=p.amount_kopecks,
        status=p.status,
        requested_at=p.requested_at,
        updated_at=p.updated_at,
        note=p.note,
    )
