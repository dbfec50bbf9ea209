"""What the ledger tells people, on real SQLite and PostgreSQL: batched accrual alerts in
the outbox (one per beneficiary per interval, summing every import since the last), payout
status notices, and ``bonus.accrued`` webhook events per batch per beneficiary."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from core.domain.bonus import Beneficiary, BonusProgram
from core.domain.bonus_alerts import BONUS_ACCRUED, BONUS_ACCRUED_EVENT, PAYOUT_STATUS
from core.domain.bonus_payouts import Actor, PayoutStatus
from core.domain.model import OwnerKind
from core.services.ledger import LedgerService
from storage import tables as t
from storage.database import SqlDatabase
from tests.fakes.clock import FakeClock
from tests.integration.ledger_env import D1, D2, PARTNER, T0, db, order, program

__all__ = ["db"]  # the fixture


def service(db: SqlDatabase, clock: FakeClock, *, webhooks: bool = False) -> LedgerService:
    base = program()
    rules = BonusProgram(
        "mos", base.versions, payout_minimum_kopecks=10_000, alert_interval_minutes=30
    )
    return LedgerService(db, {"mos": rules}, clock, webhook_parks={"mos"} if webhooks else ())


async def outbox(db: SqlDatabase, kind: str) -> list[tuple[str, int, dict[str, object]]]:
    o = t.outbox.c

    def read(conn):  # type: ignore[no-untyped-def]
        query = (
            select(o.recipient_kind, o.recipient_id, o.payload)
            .where(o.kind == kind)
            .order_by(o.id)
        )
        return [(r[0], r[1], r[2]) for r in conn.execute(query)]

    return await db.run_on_connection(read)


async def test_accruals_are_announced_once_per_beneficiary_per_interval(db: SqlDatabase) -> None:
    clock = FakeClock(T0 + timedelta(days=3))
    ledger = service(db, clock)
    # Two imports (two transactions) of driver 2's orders: driver 1 earns 10 % (level 1),
    # the partner 50 ₽ a order (level 2).
    await ledger.import_orders("mos", [order("a", 2, 100_000), order("b", 2, 200_000)])
    await ledger.import_orders("mos", [order("c", 2, 300_000), order("a", 2, 100_000)])

    assert await ledger.queue_alerts() == 2
    alerts = await outbox(db, BONUS_ACCRUED)
    assert sorted(alerts, key=lambda a: (a[0], a[1])) == [
        (
            "driver",
            1,
            {"amount_kopecks": 60_000, "balance_kopecks": 60_000, "available_kopecks": 60_000},
        ),
        (
            "partner",
            1,
            {"amount_kopecks": 15_000, "balance_kopecks": 15_000, "available_kopecks": 15_000},
        ),
    ]
    # Nothing new: nothing queued, however often the job runs.
    assert await ledger.queue_alerts() == 0

    # More accruals within the interval wait; a cancellation nets against them.
    clock.advance(minutes=10)
    await ledger.import_orders("mos", [order("d", 2, 50_000), order("e", 2, 70_000)])
    await ledger.import_orders("mos", [order("e", 2, 70_000, "cancelled")])
    assert await ledger.queue_alerts() == 0
    assert len(await outbox(db, BONUS_ACCRUED)) == 2

    clock.advance(minutes=20)  # 30 minutes since the first alert
    assert await ledger.queue_alerts() == 2
    latest = {(k, i): p for k, i, p in (await outbox(db, BONUS_ACCRUED))[2:]}
    assert latest[("driver", 1)]["amount_kopecks"] == 5_000  # only order d, since the last
    assert latest[("driver", 1)]["balance_kopecks"] == 65_000
    assert latest[("partner", 1)]["amount_kopecks"] == 5_000
    assert await ledger.queue_alerts() == 0


async def test_a_net_reversal_is_not_announced(db: SqlDatabase) -> None:
    clock = FakeClock(T0 + timedelta(days=3))
    ledger = service(db, clock)
    await ledger.import_orders("mos", [order("a", 2, 100_000)])
    await ledger.import_orders("mos", [order("a", 2, 100_000, "cancelled")])
    assert await ledger.queue_alerts() == 0
    assert await outbox(db, BONUS_ACCRUED) == []


async def test_every_payout_status_change_notifies_the_requester(db: SqlDatabase) -> None:
    clock = FakeClock(T0 + timedelta(days=3))
    ledger = service(db, clock)
    await ledger.import_orders("mos", [order("a", 2, 1_000_000)])  # D1: 100 000
    first = await ledger.request_payout("mos", D1, 30_000)
    await ledger.move_payout(first.id, PayoutStatus.PROCESSING, Actor.ADMIN)
    await ledger.move_payout(first.id, PayoutStatus.CONFIRMED, Actor.ADMIN)
    second = await ledger.request_payout("mos", D1, 20_000)
    await ledger.move_payout(second.id, PayoutStatus.ERROR, Actor.ADMIN, note="счёт закрыт")
    third = await ledger.request_payout("mos", D1, 20_000)
    await ledger.move_payout(third.id, PayoutStatus.CANCELLED, Actor.REQUESTER, requester=D1)

    notices = await outbox(db, PAYOUT_STATUS)
    assert [(kind, who) for kind, who, _ in notices] == [("driver", 1)] * 4
    assert [(p["payout_id"], p["status"]) for _, _, p in notices] == [
        (first.id, "processing"),
        (first.id, "confirmed"),
        (second.id, "error"),
        (third.id, "cancelled"),
    ]
    assert notices[2][2]["note"] == "счёт закрыт"
    assert all(p["amount_kopecks"] in (30_000, 20_000) for _, _, p in notices)


async def test_bonus_accrued_webhook_per_batch_per_beneficiary(db: SqlDatabase) -> None:
    clock = FakeClock(T0 + timedelta(days=3))
    await service(db, clock).import_orders("mos", [order("x", 2, 100_000)])  # no webhook park
    ledger = service(db, clock, webhooks=True)
    await ledger.import_orders(
        "mos", [order("a", 3, 100_000), order("b", 3, 100_000), order("a", 3, 100_000)]
    )
    await ledger.import_orders("mos", [order("a", 3, 100_000)])  # nothing changes: no event

    w = t.webhook_outbox.c
    rows = await db.run_on_connection(
        lambda c: c.execute(select(w.kind, w.body).order_by(w.id)).all()
    )
    assert {kind for kind, _ in rows} == {BONUS_ACCRUED_EVENT}
    data = {
        (d["beneficiary_kind"], d["beneficiary_id"]): d
        for d in (json.loads(body)["data"] for _, body in rows)
    }
    # Driver 3's chain: driver 2 (10 %), driver 1 (50 ₽), the partner (2.5 %).
    assert data[("driver", D2.id)]["amount_kopecks"] == 20_000
    assert data[("driver", D1.id)]["amount_kopecks"] == 10_000
    assert data[(PARTNER.kind.value, PARTNER.id)]["amount_kopecks"] == 5_000
    assert {d["orders"] for d in data.values()} == {2}
    assert len(rows) == 3
    assert Beneficiary(OwnerKind.DRIVER, 3) not in data
