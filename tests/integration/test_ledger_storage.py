"""The ledger on real SQLite and PostgreSQL: import, re-import, cancellation, balances,
payouts (refusals, statuses, two concurrent requests), the referral-cycle check, the
statement and the month export."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from core.domain.bonus import Beneficiary
from core.domain.bonus_payouts import Actor, PayoutRefusal, PayoutStatus
from core.domain.bonus_records import OrderInput
from core.domain.errors import DomainError
from core.domain.model import OwnerKind
from core.services.ledger import PayoutRefused, ReferralCycle, refuse_cycle
from storage import tables as t
from storage.database import SqlDatabase
from storage.ledger import SqlLedger
from tests.fakes.clock import FakeClock
from tests.integration.ledger_env import D1, D2, PARTNER, T0, count, db, make_service, order

__all__ = ["db"]  # the fixture


async def test_import_reimport_and_cancellation(db: SqlDatabase) -> None:
    service = make_service(db)
    batch = [
        order("a", 3, 100_000),  # chain 2, 1, partner: 10 000 + 5 000 + 2 500
        order("b", 2, 33_335),  # chain 1, partner: 3 333.5 -> 3 333 (half down), 5 000
        OrderInput("c", T0 + timedelta(days=2), 1000, "completed", driver_phone="+79160000004"),
        order("ghost", 99, 1000),
        OrderInput("bad", T0, 1000, "completed"),
    ]
    report = await service.import_orders("mos", batch)
    assert (report.accepted, report.entries) == (3, 5)
    assert [p.external_id for p in report.unknown_drivers] == ["ghost"]
    assert [p.index for p in report.invalid] == [4]
    assert await service.balance(D2) == await service.balance(D2)  # a pure read
    assert (await service.balance(D2)).accrued == 10_000
    assert (await service.balance(D1)).accrued == 5_000 + 3_333
    assert (await service.balance(PARTNER)).accrued == 2_500 + 5_000
    rows, orders = await count(db, t.ledger), await count(db, t.orders)

    again = await service.import_orders("mos", batch)
    assert (again.accepted, again.unchanged, again.entries) == (0, 3, 0)
    assert (await count(db, t.ledger), await count(db, t.orders)) == (rows, orders)

    cancelled = await service.import_orders("mos", [order("a", 3, 100_000, "cancelled")])
    assert (cancelled.reversed, cancelled.entries, cancelled.reversed_kopecks) == (1, 3, 17_500)
    assert (await service.balance(D2)).accrued == 0
    assert (await service.balance(D1)).accrued == 3_333
    assert (await service.balance(PARTNER)).accrued == 5_000
    reversals = await db.run_on_connection(
        lambda c: c.execute(
            select(t.ledger.c.amount_kopecks, t.ledger.c.reversal_of).where(
                t.ledger.c.reversal_of.is_not(None)
            )
        ).all()
    )
    assert sorted(r[0] for r in reversals) == [-10_000, -5_000, -2_500]
    # The summary equals the ledger for every owner.
    sums = await db.run_on_connection(
        lambda c: dict(
            c.execute(
                select(t.ledger.c.beneficiary_id, func.sum(t.ledger.c.amount_kopecks))
                .where(t.ledger.c.beneficiary_kind == "driver")
                .group_by(t.ledger.c.beneficiary_id)
            ).all()
        )
    )
    assert sums == {1: 3_333, 2: 0}
    # A second cancellation changes nothing.
    await service.import_orders("mos", [order("a", 3, 100_000, "cancelled")])
    assert (await service.balance(D2)).accrued == 0
    entries = await db.run_on_connection(lambda c: SqlLedger(c).entries(D1, limit=10))
    assert [e.accrual.amount_kopecks for e in entries] == [-5_000, 3_333, 5_000]


async def test_cap_window_and_threshold_on_real_storage(db: SqlDatabase) -> None:
    service = make_service(db, monthly_cap_kopecks=12_000, min_orders=1, window_days=30)
    first = await service.import_orders("mos", [order("o1", 2, 100_000)])
    assert first.entries == 0  # min_orders=1: the first order pays nothing
    # Second batch: counts and month sums come from the database, not from memory.
    await service.import_orders("mos", [order("o2", 2, 100_000)])
    await service.import_orders("mos", [order("o3", 2, 100_000)])
    assert (await service.balance(D1)).accrued == 12_000  # 10 000 + 2 000 (capped)
    late = T0 + timedelta(days=31)
    report = await service.import_orders("mos", [order("o4", 2, 100_000, at=late)])
    assert report.entries == 0  # outside the 30-day window


async def test_summaries_match_what_they_sum(db: SqlDatabase) -> None:
    """The month sums and the completed counts the import keeps equal the ledger and the
    orders table after new orders, orders arriving cancelled, a cancellation within the
    batch that stored the order, a later cancellation and a second cancel of it."""
    service = make_service(db, monthly_cap_kopecks=1_000_000, min_orders=1)
    await service.import_orders(
        "mos",
        [
            order("s1", 3, 100_000),
            order("s2", 3, 50_000),
            order("s3", 2, 70_000),
            order("s4", 3, 10_000, "cancelled"),
            order("s5", 2, 20_000),
            order("s5", 2, 20_000, "cancelled"),
        ],
    )
    await service.import_orders("mos", [order("s6", 3, 40_000), order("s2", 3, 50_000)])
    for _ in range(2):
        await service.import_orders("mos", [order("s1", 3, 100_000, "cancelled")])

    def compare(c: Connection) -> None:
        lg, ms, o, n = t.ledger.c, t.ledger_month_sums.c, t.orders.c, t.driver_order_counts.c
        keys = (lg.referred_driver_id, lg.month, lg.beneficiary_kind, lg.beneficiary_id)
        summed = c.execute(select(*keys, func.sum(lg.amount_kopecks)).group_by(*keys)).all()
        kept = c.execute(
            select(
                ms.referred_driver_id, ms.month, ms.beneficiary_kind, ms.beneficiary_id
            ).add_columns(ms.amount_kopecks)
        ).all()
        assert sorted(map(tuple, kept)) == sorted(map(tuple, summed))
        assert any(total == 0 for *_, total in kept)  # s1's rows, reversed
        counted = c.execute(
            select(o.driver_id, func.count()).where(o.status == "completed").group_by(o.driver_id)
        ).all()
        stored = c.execute(select(n.driver_id, n.completed).where(n.completed != 0)).all()
        assert sorted(map(tuple, stored)) == sorted(map(tuple, counted)) == [(2, 1), (3, 2)]

    await db.run_on_connection(compare)


async def test_payout_rules_and_statuses(db: SqlDatabase) -> None:
    service = make_service(db)
    await service.import_orders("mos", [order("a", 2, 500_000)])  # D1 gets 50 000
    with pytest.raises(PayoutRefused) as low:
        await service.request_payout("mos", D1, 9_999)
    assert low.value.reason is PayoutRefusal.BELOW_MINIMUM
    with pytest.raises(PayoutRefused) as high:
        await service.request_payout("mos", D1, 50_001)
    assert high.value.reason is PayoutRefusal.INSUFFICIENT

    first = await service.request_payout("mos", D1, 30_000)
    assert (await service.balance(D1)).available == 20_000
    with pytest.raises(PayoutRefused):
        await service.request_payout("mos", D1, 20_001)  # pending money is not available
    await service.move_payout(first.id, PayoutStatus.PROCESSING, Actor.ADMIN)
    with pytest.raises(PayoutRefused, match="only while pending"):
        await service.move_payout(first.id, PayoutStatus.CANCELLED, Actor.REQUESTER, requester=D1)
    with pytest.raises(PayoutRefused, match="no payout request"):
        await service.move_payout(first.id, PayoutStatus.CONFIRMED, Actor.REQUESTER, requester=D2)
    done = await service.move_payout(first.id, PayoutStatus.CONFIRMED, Actor.ADMIN)
    assert done.status is PayoutStatus.CONFIRMED
    balance = await service.balance(D1)
    assert (balance.accrued, balance.reserved, balance.paid, balance.available) == (
        50_000,
        0,
        30_000,
        20_000,
    )

    second = await service.request_payout("mos", D1, 20_000)
    cancelled = await service.move_payout(
        second.id, PayoutStatus.CANCELLED, Actor.REQUESTER, requester=D1
    )
    assert cancelled.status is PayoutStatus.CANCELLED
    third = await service.request_payout("mos", D1, 20_000)
    await service.move_payout(third.id, PayoutStatus.ERROR, Actor.ADMIN, note="bank said no")
    assert (await service.balance(D1)).available == 20_000  # an error gives the money back
    listed = await service.payouts(owner=D1)
    assert [p.status for p in listed] == [
        PayoutStatus.CONFIRMED,
        PayoutStatus.CANCELLED,
        PayoutStatus.ERROR,
    ]
    assert listed[2].note == "bank said no"


async def test_concurrent_payouts_never_overdraw(db: SqlDatabase, tmp_path: Path) -> None:
    await make_service(db).import_orders("mos", [order("a", 2, 1_000_000)])  # D1: 100 000
    # Several databases on one store stand for several processes: no shared thread or pool.
    others = [SqlDatabase(db.url, FakeClock(T0)) for _ in range(3)]
    try:
        services = [make_service(x) for x in [db, *others] for _ in range(2)]
        results = await asyncio.gather(
            *(s.request_payout("mos", D1, 60_000) for s in services), return_exceptions=True
        )
    finally:
        for other in others:
            await other.dispose()
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, PayoutRefused)]
    assert len(wins) == 1
    assert len(losses) == len(services) - 1
    balance = await make_service(db).balance(D1)
    assert (balance.reserved, balance.available) == (60_000, 40_000)
    assert await count(db, t.payouts) == 1


async def test_referral_cycle_is_refused(db: SqlDatabase) -> None:
    def attempt(driver: int, referrer: Beneficiary) -> Callable[[Connection], None]:
        return lambda conn: refuse_cycle(SqlLedger(conn), "mos", driver, referrer)

    with pytest.raises(ReferralCycle):
        await db.run_on_connection(attempt(1, Beneficiary(OwnerKind.DRIVER, 3)))
    with pytest.raises(ReferralCycle):
        await db.run_on_connection(attempt(2, D2))
    await db.run_on_connection(attempt(3, D1))  # moving driver 3 up the tree is allowed
    await db.run_on_connection(attempt(1, PARTNER))


async def test_statement_and_month_export(db: SqlDatabase) -> None:
    clock = FakeClock(T0 + timedelta(days=3))
    service = make_service(db, clock)
    await service.import_orders(
        "mos",
        [
            order("a", 2, 100_000),  # D1 level 1: 10 000
            order("b", 3, 100_000),  # D1 level 2: 5 000
            order("old", 2, 100_000, at=T0 - timedelta(days=5)),  # before the rules: nothing
            order("dec", 2, 40_000, at=T0 + timedelta(days=31)),  # December: 4 000
        ],
    )
    await service.import_orders("mos", [order("b", 3, 100_000, "cancelled")])
    statement = await service.statement("mos", D1, recent=3)
    assert statement.month == "2026-11"
    assert statement.month_kopecks == 10_000  # 10 000 + 5 000 - 5 000
    assert statement.balance.accrued == 14_000
    assert statement.referrals == 1  # driver 2 registered with D1's code
    assert [e.accrual.amount_kopecks for e in statement.recent] == [-5_000, 4_000, 5_000]
    november = await service.month_entries("mos", "2026-11")
    amounts = [(e.accrual.order_external_id, e.accrual.amount_kopecks) for e, _ in november]
    assert amounts == [
        ("a", 10_000),  # D1, level 1
        ("a", 5_000),  # the partner, level 2
        ("b", 10_000),  # D2
        ("b", 5_000),  # D1
        ("b", 2_500),  # the partner
        ("b", -10_000),
        ("b", -5_000),
        ("b", -2_500),
    ]
    assert all(at.tzinfo is not None for _, at in november)
    with pytest.raises(DomainError):
        await service.month_entries("mos", "2026-13")


async def test_concurrent_imports_of_one_batch_pay_once(db: SqlDatabase) -> None:
    batch = [order(f"o{i}", 2 + i % 2, 10_000 + i) for i in range(50)]
    others = [SqlDatabase(db.url, FakeClock(T0)) for _ in range(2)]
    try:
        reports = await asyncio.gather(
            *(make_service(x).import_orders("mos", batch) for x in [db, *others])
        )
    finally:
        for other in others:
            await other.dispose()
    assert sum(r.accepted for r in reports) == 50
    assert sum(r.unchanged for r in reports) == 100
    single = make_service(db)
    assert (await single.balance(D1)).accrued == sum(r.by_beneficiary.get(D1, 0) for r in reports)
    assert await count(db, t.orders) == 50


async def test_concurrent_imports_never_pass_the_cap(db: SqlDatabase) -> None:
    # Each import alone stays under the cap; together they would pass it if both read the
    # month's sum before either wrote.
    cap = 30_000
    batches = [[order(f"{k}-{i}", 2, 100_000) for i in range(2)] for k in range(4)]
    others = [SqlDatabase(db.url, FakeClock(T0)) for _ in range(3)]
    try:
        await asyncio.gather(
            *(
                make_service(x, monthly_cap_kopecks=cap).import_orders("mos", b)
                for x, b in zip([db, *others], batches, strict=True)
            )
        )
    finally:
        for other in others:
            await other.dispose()
    assert (await make_service(db).balance(D1)).accrued == cap


async def test_owners_of_a_phone(db: SqlDatabase) -> None:
    ledger = make_service(db)
    assert await ledger.owners("mos", "+79160000002") == [D2]
    assert await ledger.owners("mos", "+79160000100") == [PARTNER]
    assert await ledger.owners("mos", "+79169999999") == []


async def test_check_constraints_have_the_models_names(db: SqlDatabase) -> None:
    # Alembic's comparison skips CHECK constraints; a name that differs from the model's
    # would make a later migration that drops or alters it fail.
    from sqlalchemy import CheckConstraint, inspect

    for table in (t.orders, t.payouts):
        expected = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        found = await db.run_on_connection(
            lambda conn, name=table.name: {
                c["name"] for c in inspect(conn).get_check_constraints(name)
            }
        )
        assert found == expected
