"""The bonus ledger over HTTP, on real SQLite and PostgreSQL: ``POST /api/v1/orders`` with
the park's key (bad orders and unknown drivers reported by index, the rest kept, a repeat
changing nothing, a cancellation reversing), and the admin's payout workflow (list, process,
a cancel after processing refused with its reason, confirm), each move queued for the
requester's bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.bootstrap import Container
from core.domain.bonus import Beneficiary
from core.domain.bonus_alerts import PAYOUT_STATUS
from core.domain.model import OwnerKind
from core.services.ledger import LedgerService
from storage import tables as t
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.integration.ledger_env import program
from tests.web.api_support import ADMIN_TOKEN, Api, serve_api
from tests.web.test_api_partner import error, register_with

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def api(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms
) -> AsyncIterator[Api]:
    def with_ledger(container: Container) -> None:
        container.ledger = LedgerService(container.db, {"mos": program()}, clock)

    async with serve_api(database_url, tmp_path, clock, sms, prepare=with_ledger) as served:
        yield served


def order(oid: str, when: str, price: int = 100_000, **driver: object) -> dict[str, object]:
    return {"order_id": oid, "completed_at": when, "price_kopecks": price,
            "status": "completed", **driver}  # fmt: skip


async def test_orders_intake(api: Api) -> None:
    partner = await api.container.admin.add_partner("mos", "+79161112233", "Анна")
    await register_with(api, partner.code, "+79160000001")
    when = (api.clock.now() + timedelta(hours=1)).isoformat()
    batch = {
        "park": "mos",
        "orders": [
            order("o1", when, driver_phone="+7 916 000-00-01"),
            order("o2", when, driver_phone="+79169999999"),  # nobody we know
            order("o3", when, price=10**11, driver_phone="+79160000001"),  # beyond the bound
            order("o4", when, price=50_000, driver_phone="89160000001"),
        ],
    }
    refused = await api.http.post("/api/v1/orders", json=batch, headers=api.key("spb"))
    error(refused, 401, "api_key_invalid")

    answer = await api.http.post("/api/v1/orders", json=batch, headers=api.key())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["unchanged"], body["entries"]) == (2, 0, 2)
    assert body["accrued_kopecks"] == 15_000  # 10 % of 1 500 ₽ to the partner
    assert [(p["index"], p["order_id"]) for p in body["problems"]] == [(1, "o2"), (2, "o3")]
    assert "no driver" in body["problems"][0]["reason"]

    again = (await api.http.post("/api/v1/orders", json=batch, headers=api.key())).json()
    assert (again["accepted"], again["unchanged"], again["entries"]) == (0, 2, 0)

    cancel = {"park": "mos", "orders": [{**order("o1", when, driver_phone="+79160000001"),
                                         "status": "cancelled"}]}  # fmt: skip
    undone = (await api.http.post("/api/v1/orders", json=cancel, headers=api.key())).json()
    assert (undone["reversed"], undone["reversed_kopecks"]) == (1, 10_000)
    owner = Beneficiary(OwnerKind.PARTNER, partner.id or 0)
    assert (await api.container.ledger.balance(owner)).accrued == 5_000

    too_many = {"park": "mos", "orders": [order(f"x{i}", when, driver_id=1) for i in range(1001)]}
    bad = await api.http.post("/api/v1/orders", json=too_many, headers=api.key())
    assert bad.status_code == 422


async def test_admin_payout_workflow(api: Api) -> None:
    partner = await api.container.admin.add_partner("mos", "+79161112233", "Анна")
    await register_with(api, partner.code, "+79160000001")
    when = api.clock.now() + timedelta(hours=1)
    batch = {"park": "mos", "orders": [order("o1", when.isoformat(), 1_000_000, driver_id=1)]}
    assert (await api.http.post("/api/v1/orders", json=batch, headers=api.key())).is_success
    owner = Beneficiary(OwnerKind.PARTNER, partner.id or 0)
    payout = await api.container.ledger.request_payout("mos", owner, 60_000)

    error(await api.http.get("/api/v1/admin/payouts"), 401, "unauthorized")
    listed = await api.http.get("/api/v1/admin/payouts?park=mos&status=pending", headers=ADMIN)
    assert [(p["id"], p["owner_kind"], p["amount_kopecks"]) for p in listed.json()] == [
        (payout.id, "partner", 60_000)
    ]
    moved = await api.http.post(f"/api/v1/admin/payouts/{payout.id}/process", headers=ADMIN)
    assert moved.json()["status"] == "processing"
    late = await api.container.ledger.payouts(owner=owner)
    assert late[0].status.value == "processing"
    cancel = await api.http.post(f"/api/v1/admin/payouts/{payout.id}/cancel", headers=ADMIN)
    error(cancel, 409, "payout_refused")
    assert "only while pending" in cancel.json()["message"]
    done = await api.http.post(
        f"/api/v1/admin/payouts/{payout.id}/confirm", json={"note": "п/п 42"}, headers=ADMIN
    )
    assert (done.json()["status"], done.json()["note"]) == ("confirmed", "п/п 42")
    error(
        await api.http.post("/api/v1/admin/payouts/999/confirm", headers=ADMIN), 404, "not_found"
    )
    # Ids and parks no column could hold are refused before the database (PostgreSQL's
    # int4 and text would raise): a clear 422 / 404, never a 500.
    too_big = await api.http.post(f"/api/v1/admin/payouts/{2**40}/confirm", headers=ADMIN)
    assert too_big.status_code == 422
    for park in ("nowhere", "mo\x00s"):
        unknown = await api.http.get("/api/v1/admin/payouts", params={"park": park}, headers=ADMIN)
        error(unknown, 404, "unknown_park")
    balance = await api.container.ledger.balance(owner)
    assert (balance.paid, balance.available) == (60_000, 40_000)

    o = t.outbox.c
    notices = await api.container.db.run_on_connection(
        lambda c: c.execute(
            select(o.recipient_kind, o.payload).where(o.kind == PAYOUT_STATUS).order_by(o.id)
        ).all()
    )
    assert [(kind, p["status"]) for kind, p in notices] == [
        ("partner", "processing"),
        ("partner", "confirmed"),
    ]
